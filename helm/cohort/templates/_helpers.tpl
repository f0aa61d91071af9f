{{/*
Names, labels and small derived values shared by every template.
*/}}

{{- define "cohort.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's resources. Kept to 54 characters so that the longest
derived name ("<fullname>-headless") still fits the 63-character DNS label limit.
*/}}
{{- define "cohort.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cohort.headlessName" -}}
{{- printf "%s-headless" (include "cohort.fullname" .) }}
{{- end }}

{{- define "cohort.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cohort.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cohort.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: transaction-coordinator
{{- end }}

{{- define "cohort.labels" -}}
helm.sh/chart: {{ include "cohort.chart" . }}
{{ include "cohort.selectorLabels" . }}
app.kubernetes.io/version: {{ include "cohort.imageTag" . | quote }}
app.kubernetes.io/part-of: cohort
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "cohort.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "cohort.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "cohort.imageTag" .) }}
{{- end }}

{{- define "cohort.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cohort.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Mount path of the TC data directory (cohort.tc.store.embedded.dir). */}}
{{- define "cohort.dataDir" -}}
/var/lib/cohort
{{- end }}

{{/* "true" when the chart must create a Secret for the postgres password. */}}
{{- define "cohort.chartSecret.postgresPassword" -}}
{{- if and (eq .Values.store.type "postgres") .Values.store.postgres.password (not .Values.store.postgres.existingSecret) }}true{{ end }}
{{- end }}

{{/* "true" when the chart's Secret holds the client and admin tokens (given or generated). */}}
{{- define "cohort.chartSecret.authToken" -}}
{{- if and .Values.auth.enabled (not .Values.auth.existingSecret) }}true{{ end }}
{{- end }}

{{/*
One token of the chart's Secret, base64-encoded: the value given, else what the installed Secret
holds (so "helm upgrade" keeps a generated token), else a new random one. Without access to a
cluster (helm template, --dry-run) lookup finds nothing and every render generates anew.
Call with (dict "ctx" $ "key" "auth-token" "given" .Values.auth.token).
*/}}
{{- define "cohort.chartSecret.token" -}}
{{- if .given }}
{{- .given | b64enc }}
{{- else }}
{{- $installed := lookup "v1" "Secret" .ctx.Release.Namespace (include "cohort.fullname" .ctx) | default dict }}
{{- dig "data" .key "" $installed | default (randAlphaNum 48 | b64enc) }}
{{- end }}
{{- end }}

{{- define "cohort.chartSecret.enabled" -}}
{{- if or (include "cohort.chartSecret.postgresPassword" .) (include "cohort.chartSecret.authToken" .) }}true{{ end }}
{{- end }}

{{/*
Spring Boot settings the chart derives from structured values. They are rendered
into application.yaml and may not be repeated under .Values.config (see validate.yaml).
Secrets and the advertised address are not here: they reach the container as env vars.
*/}}
{{- define "cohort.managedConfig" -}}
server:
  port: {{ .Values.ports.http }}
cohort:
  tc:
    grpc-port: {{ .Values.ports.grpc }}
    default-timeout: {{ .Values.tc.defaultTimeout | quote }}
    store:
      type: {{ .Values.store.type }}
      {{- if eq .Values.store.type "embedded" }}
      embedded:
        dir: {{ include "cohort.dataDir" . }}
      {{- else }}
      postgres:
        {{- if not (and .Values.store.postgres.existingSecret .Values.store.postgres.secretKeys.url) }}
        url: {{ .Values.store.postgres.url | quote }}
        {{- end }}
        {{- if and .Values.store.postgres.username (not (and .Values.store.postgres.existingSecret .Values.store.postgres.secretKeys.username)) }}
        username: {{ .Values.store.postgres.username | quote }}
        {{- end }}
        max-pool-size: {{ .Values.store.postgres.maxPoolSize }}
        lease-time: {{ .Values.store.postgres.leaseTime | quote }}
        renew-interval: {{ .Values.store.postgres.renewInterval | quote }}
      {{- end }}
{{- end }}

{{/* Defaults the user may override through .Values.config. */}}
{{- define "cohort.defaultConfig" -}}
management:
  endpoints:
    web:
      exposure:
        include: health,info,prometheus,metrics
  endpoint:
    health:
      probes:
        enabled: true
{{- end }}

{{/* The complete application.yaml: defaults, then .Values.config, then the managed settings. */}}
{{- define "cohort.applicationYaml" -}}
{{- $defaults := include "cohort.defaultConfig" . | fromYaml }}
{{- $managed := include "cohort.managedConfig" . | fromYaml }}
{{- $merged := mustMergeOverwrite $defaults (deepCopy (.Values.config | default dict)) $managed }}
{{- toYaml $merged }}
{{- end }}

{{/*
Names of the env vars the chart sets itself; .Values.env may not repeat them.
*/}}
{{- define "cohort.managedEnvNames" -}}
POD_IP POD_NAME COHORT_TC_ADVERTISED_ADDRESS SPRING_CONFIG_ADDITIONAL_LOCATION JAVA_TOOL_OPTIONS COHORT_TC_STORE_POSTGRES_URL COHORT_TC_STORE_POSTGRES_USERNAME COHORT_TC_STORE_POSTGRES_PASSWORD COHORT_TC_AUTH_TOKEN COHORT_TC_AUTH_ADMIN_TOKEN
{{- end }}

{{/*
Every leaf key of a map as a dotted path, one per line; nested maps and dotted keys alike
("cohort: {tc: {grpc-port: 1}}" and "cohort.tc.grpc-port: 1" give the same path).
*/}}
{{- define "cohort.flatKeys" -}}
{{- $prefix := .prefix }}
{{- range $k, $val := .map }}
{{- $key := ternary $k (printf "%s.%s" $prefix $k) (eq $prefix "") }}
{{- if kindIs "map" $val }}
{{- include "cohort.flatKeys" (dict "prefix" $key "map" $val) }}
{{- else }}
{{ $key }}
{{- end }}
{{- end }}
{{- end }}
