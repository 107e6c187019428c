/**
 * Throwaway TLS material for the TLS tests, made with the `openssl` command into a folder:
 * a CA, and certificates it signs for a server (127.0.0.1 only, no host name) or a client.
 * EC P-256 keys: fast to make, and both Node and Java take them.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

export interface Ca {
  readonly dir: string;
  readonly name: string;
  /** The CA certificate file (what a *_TLS_CA_FILE names). */
  readonly cert: string;
  readonly key: string;
}

/** A self-signed CA `<name>.pem` / `<name>.key` in `dir`. */
export function makeCa(dir: string, name: string): Ca {
  openssl(dir, 'req', '-x509', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=flowyard test CA ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  return { dir, name, cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

export interface Issued {
  readonly cert: string;
  readonly key: string;
}

/** `<name>.pem` / `<name>.key` signed by `ca`: a server certificate for IP 127.0.0.1, or a client certificate. */
export function issue(ca: Ca, name: string, use: 'server' | 'client'): Issued {
  const ext = join(ca.dir, `${name}.ext`);
  writeFileSync(
    ext,
    use === 'server'
      ? 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n'
      : 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
  );
  openssl(ca.dir, 'req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  openssl(ca.dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(Date.now()), '-days', '2', '-extfile', ext, '-out', `${name}.pem`);
  return { cert: join(ca.dir, `${name}.pem`), key: join(ca.dir, `${name}.key`) };
}
