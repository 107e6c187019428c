{{/* Names, labels and the pod template shared by every flowyard Deployment and the topics Job. */}}

{{- define "flowyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "flowyard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: `<fullname>-<component>`, at most 63 characters. */}}
{{- define "flowyard.componentName" -}}
{{- $full := include "flowyard.fullname" .root -}}
{{- $name := printf "%s-%s" $full .component -}}
{{- if gt (len $name) 63 -}}
{{- /* keep names unique when truncating: the tail is a hash of the full name */ -}}
{{- $name = printf "%s-%s" ($name | trunc 54 | trimSuffix "-") ($name | sha256sum | trunc 8) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{- define "flowyard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "flowyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flowyard
{{- end -}}

{{- define "flowyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flowyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flowyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flowyard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "flowyard.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The topology as YAML text: values.topology is a string (a file passed with --set-file) or
an object. Kept as text in the ConfigMap so comments and `${VAR}` placeholders survive.
*/}}
{{- define "flowyard.topologyText" -}}
{{- if kindIs "string" .Values.topology -}}
{{- .Values.topology -}}
{{- else -}}
{{- toYaml .Values.topology -}}
{{- end -}}
{{- end -}}

{{/*
The few topology fields the chart needs, as YAML (callers use `fromYaml`): name, mode,
partitions, destinations (names) and whether a sequencer is configured. Every other
check is flowyard's own (`flowyard validate`, at pod start).
*/}}
{{- define "flowyard.topologyFacts" -}}
{{- $text := include "flowyard.topologyText" . -}}
{{- $t := fromYaml $text -}}
{{- if hasKey $t "Error" -}}
{{- fail (printf "topology: not valid YAML: %s" (get $t "Error")) -}}
{{- end -}}
{{- $name := get $t "name" | default "" | toString -}}
{{- if not (regexMatch "^[a-z][a-z0-9-]*$" $name) -}}
{{- fail (printf "topology.name %q: expected lowercase letters, digits and '-', starting with a letter" $name) -}}
{{- end -}}
{{- $mode := get $t "mode" | default "" | toString -}}
{{- if not (has $mode (list "cascade" "fanout" "dag")) -}}
{{- fail (printf "topology.mode %q: expected cascade, fanout or dag" $mode) -}}
{{- end -}}
{{- $destinations := list -}}
{{- range $i, $d := (get $t "destinations" | default list) -}}
{{- $dname := "" -}}
{{- if kindIs "map" $d -}}{{- $dname = get $d "name" | default "" | toString -}}{{- end -}}
{{- if not (regexMatch "^[a-z][a-z0-9-]*$" $dname) -}}
{{- fail (printf "topology.destinations[%d].name %q: expected lowercase letters, digits and '-', starting with a letter" $i $dname) -}}
{{- end -}}
{{- if gt (len (printf "%s.%s" $name $dname)) 63 -}}
{{- fail (printf "topology.destinations[%d].name %q: the consumer group %s.%s is longer than 63 characters, which a Kubernetes label value cannot hold" $i $dname $name $dname) -}}
{{- end -}}
{{- if has $dname $destinations -}}
{{- fail (printf "topology.destinations[%d].name %q: duplicate destination name" $i $dname) -}}
{{- end -}}
{{- $destinations = append $destinations $dname -}}
{{- end -}}
{{- if eq (len $destinations) 0 -}}
{{- fail "topology.destinations: at least one destination is required" -}}
{{- end -}}
{{- $ordering := get $t "ordering" | default dict -}}
{{- $sequencer := and (kindIs "map" $ordering) (hasKey $ordering "sequencer") -}}
name: {{ $name | quote }}
mode: {{ $mode | quote }}
partitions: {{ get $t "partitions" | default 0 | int }}
sequencer: {{ $sequencer }}
destinations: {{ $destinations | toJson }}
{{- end -}}

{{/* Effective settings of one worker: workers.defaults deep-merged with perDestination.<d>. */}}
{{- define "flowyard.workerSettings" -}}
{{- $override := get .root.Values.workers.perDestination .destination | default dict -}}
{{- mergeOverwrite (deepCopy .root.Values.workers.defaults) (deepCopy $override) | toYaml -}}
{{- end -}}

{{- define "flowyard.terminationGracePeriodSeconds" -}}
{{- $shutdownSeconds := div (add .Values.shutdownTimeoutMs 999) 1000 -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $shutdownSeconds 15 -}}
{{- else -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $shutdownSeconds) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be above shutdownTimeoutMs (%v ms): Kubernetes would kill a graceful stop before it commits its offsets" .Values.terminationGracePeriodSeconds .Values.shutdownTimeoutMs) -}}
{{- end -}}
{{- .Values.terminationGracePeriodSeconds | int -}}
{{- end -}}
{{- end -}}

{{/* Secret-backed TLS file mounts: folder per connection. */}}
{{- define "flowyard.tlsDir" -}}/etc/flowyard/tls/{{ . }}{{- end -}}

{{/*
Environment of every flowyard container (docs/architecture.md §8, src/config/env.ts). Credentials
only ever come from Secrets: secretKeyRef for passwords, mounted files for certificates.
*/}}
{{- define "flowyard.env" -}}
{{- $v := .root.Values -}}
{{- if regexMatch "^[a-z]+://[^/@]*:[^/@]*@" $v.redis.url -}}
{{- fail "redis.url holds a password: remove it from the URL and put it in a Secret named by redis.auth.existingSecret" -}}
{{- end -}}
- name: KAFKA_BROKERS
  value: {{ join "," $v.kafka.brokers | quote }}
- name: FLOWYARD_CLIENT_ID
  value: {{ printf "%s-%s" (include "flowyard.fullname" .root) .component | quote }}
{{- with $v.kafka.sasl }}
{{- if .mechanism }}
{{- if not .existingSecret }}
{{- fail "kafka.sasl.existingSecret: required when kafka.sasl.mechanism is set (the username and password come only from a Secret)" }}
{{- end }}
- name: KAFKA_SASL_MECHANISM
  value: {{ .mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef: { name: {{ .existingSecret | quote }}, key: {{ .usernameKey | quote }} }
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ .existingSecret | quote }}, key: {{ .passwordKey | quote }} }
{{- end }}
{{- end }}
{{- include "flowyard.tlsEnv" (dict "prefix" "KAFKA" "tls" $v.kafka.tls) }}
- name: REDIS_URL
  value: {{ $v.redis.url | quote }}
{{- with $v.redis.auth }}
{{- if .existingSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ .existingSecret | quote }}, key: {{ .passwordKey | quote }} }
{{- end }}
{{- end }}
{{- include "flowyard.tlsEnv" (dict "prefix" "REDIS" "tls" $v.redis.tls) }}
{{- if $v.schemaRegistry.url }}
- name: SCHEMA_REGISTRY_URL
  value: {{ $v.schemaRegistry.url | quote }}
{{- end }}
- name: FLOWYARD_HTTP_PORT
  value: {{ $v.httpPort | quote }}
- name: LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: FLOWYARD_SHUTDOWN_TIMEOUT_MS
  value: {{ $v.shutdownTimeoutMs | int | quote }}
{{- range $v.extraEnv }}
{{- if and (hasKey . "value") (regexMatch "(?i)pass|secret|token|credential|api_?key|private_?key" .name) }}
{{- fail (printf "extraEnv %s: a credential must not be inlined in values; use valueFrom.secretKeyRef (or extraEnvFrom with a Secret)" .name) }}
{{- end }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "flowyard.tlsEnv" -}}
{{- $dir := include "flowyard.tlsDir" (lower .prefix) -}}
{{- with .tls }}
{{- if .enabled }}
- name: {{ $.prefix }}_TLS
  value: "true"
{{- if .existingSecret }}
{{- if ne (empty .certKey) (empty .keyKey) }}
{{- fail (printf "%s TLS: a client certificate needs both certKey and keyKey" (lower $.prefix)) }}
{{- end }}
{{- if .caKey }}
- name: {{ $.prefix }}_TLS_CA_FILE
  value: {{ printf "%s/%s" $dir .caKey | quote }}
{{- end }}
{{- if .certKey }}
- name: {{ $.prefix }}_TLS_CERT_FILE
  value: {{ printf "%s/%s" $dir .certKey | quote }}
- name: {{ $.prefix }}_TLS_KEY_FILE
  value: {{ printf "%s/%s" $dir .keyKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Volumes: the topology ConfigMap (a directory), /tmp, and TLS Secrets. */}}
{{- define "flowyard.volumes" -}}
- name: topology
  configMap:
    name: {{ .configMap | quote }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .root.Values.tmpSizeLimit | quote }}
{{- range $conn := list "kafka" "redis" }}
{{- $tls := get (get $.root.Values $conn) "tls" }}
{{- if and $tls.enabled $tls.existingSecret }}
- name: {{ $conn }}-tls
  secret:
    secretName: {{ $tls.existingSecret | quote }}
    defaultMode: 0440
{{- end }}
{{- end }}
{{- end -}}

{{- define "flowyard.volumeMounts" -}}
{{- /* A directory mount, NOT subPath: a subPath mount never sees ConfigMap updates, and hot reload depends on them. */ -}}
- name: topology
  mountPath: {{ .Values.topologyMountPath | quote }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- range $conn := list "kafka" "redis" }}
{{- $tls := get (get $.Values $conn) "tls" }}
{{- if and $tls.enabled $tls.existingSecret }}
- name: {{ $conn }}-tls
  mountPath: {{ include "flowyard.tlsDir" $conn | quote }}
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{- define "flowyard.topologyPath" -}}
{{- printf "%s/%s" (.Values.topologyMountPath | trimSuffix "/") .Values.topologyFileName -}}
{{- end -}}

{{/*
One flowyard Deployment. Arguments (dict): root, component (object name suffix), role
(label), args (flowyard CLI arguments after the topology path), replicas (nil: leave to
an autoscaler), resources, group (the consumer group, a label for people and tests),
destination ("" for role Deployments).
*/}}
{{- define "flowyard.deployment" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $name := include "flowyard.componentName" (dict "root" $root "component" .component) -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "flowyard.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    flowyard.io/role: {{ .role }}
    flowyard.io/consumer-group: {{ .group | quote }}
    {{- with .destination }}
    flowyard.io/destination: {{ . | quote }}
    {{- end }}
spec:
  {{- if not (kindIs "invalid" .replicas) }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 3
  {{- with .strategy }}
  strategy:
    type: {{ . }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "flowyard.selectorLabels" $root | nindent 6 }}
      app.kubernetes.io/component: {{ .component }}
  template:
    metadata:
      labels:
        {{- include "flowyard.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
        flowyard.io/role: {{ .role }}
        flowyard.io/consumer-group: {{ .group | quote }}
        {{- with .destination }}
        flowyard.io/destination: {{ . | quote }}
        {{- end }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- /*
      No checksum/topology annotation on purpose: a changed topology must NOT roll the
      pods. The running process watches the mounted file and switches plans in place
      (the new plan starts, the old one drains); a restart would interrupt every consumer group.
      */}}
      {{- with $v.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "flowyard.serviceAccountName" $root }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ include "flowyard.terminationGracePeriodSeconds" $root }}
      securityContext:
        {{- toYaml $v.podSecurityContext | nindent 8 }}
      {{- with $v.image.pullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . | quote }}
        {{- end }}
      {{- end }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . | quote }}
      {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      affinity:
        {{- if $v.affinity }}
        {{- toYaml $v.affinity | nindent 8 }}
        {{- else }}
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
                    {{- include "flowyard.selectorLabels" $root | nindent 20 }}
                    app.kubernetes.io/component: {{ .component }}
        {{- end }}
      containers:
        - name: flowyard
          image: {{ include "flowyard.image" $root | quote }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          args:
            - run
            - {{ include "flowyard.topologyPath" $root | quote }}
            {{- range .args }}
            - {{ . | quote }}
            {{- end }}
          env:
            {{- include "flowyard.env" (dict "root" $root "component" .component) | nindent 12 }}
          {{- with $v.extraEnvFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            - name: http
              containerPort: {{ $v.httpPort }}
              protocol: TCP
          startupProbe:
            httpGet: { path: /healthz, port: http }
            {{- toYaml $v.probes.startup | nindent 12 }}
          livenessProbe:
            httpGet: { path: /healthz, port: http }
            {{- toYaml $v.probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet: { path: /readyz, port: http }
            {{- toYaml $v.probes.readiness | nindent 12 }}
          resources:
            {{- toYaml .resources | nindent 12 }}
          securityContext:
            {{- toYaml $v.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "flowyard.volumeMounts" $root | nindent 12 }}
      volumes:
        {{- include "flowyard.volumes" (dict "root" $root "configMap" (include "flowyard.componentName" (dict "root" $root "component" "topology"))) | nindent 8 }}
{{- end -}}

{{/* A PodDisruptionBudget for one Deployment. */}}
{{- define "flowyard.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "flowyard.componentName" (dict "root" .root "component" .component) }}
  labels:
    {{- include "flowyard.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  maxUnavailable: {{ .root.Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "flowyard.selectorLabels" .root | nindent 6 }}
      app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* "true" when the sequencer role runs: roles.sequencer.enabled, or for "auto" whether the topology configures one. */}}
{{- define "flowyard.sequencerEnabled" -}}
{{- $enabled := .Values.roles.sequencer.enabled -}}
{{- if eq (toString $enabled) "auto" -}}
{{- $enabled = (include "flowyard.topologyFacts" . | fromYaml).sequencer -}}
{{- end -}}
{{- ternary "true" "false" (eq (toString $enabled) "true") -}}
{{- end -}}
