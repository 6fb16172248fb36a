{{- define "terrace.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name: RELEASE-terrace, or RELEASE when it already says terrace. */}}
{{- define "terrace.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "terrace.listenerName" -}}
{{- printf "%s-listener" (include "terrace.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "terrace.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "terrace.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: terrace
{{- end }}

{{/* Selector labels of one component (api, listener): call with (list . "api"). */}}
{{- define "terrace.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "terrace.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "terrace.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "terrace.runnerImage" -}}
{{- $img := .Values.listener.runs.image }}
{{- printf "%s:%s" (default .Values.image.repository $img.repository) (default (default .Chart.AppVersion .Values.image.tag) $img.tag) }}
{{- end }}

{{- define "terrace.externalUrl" -}}
{{- if .Values.externalUrl }}
{{- .Values.externalUrl }}
{{- else if and .Values.ingress.enabled .Values.ingress.host }}
{{- printf "https://%s" .Values.ingress.host }}
{{- else }}
{{- fail "externalUrl is required (the https URL clients use) unless ingress.enabled with ingress.host" }}
{{- end }}
{{- end }}

{{/* The API as the listener reaches it: listener.serverUrl, or the Service in this cluster. */}}
{{- define "terrace.serverUrl" -}}
{{- if .Values.listener.serverUrl }}
{{- .Values.listener.serverUrl }}
{{- else if .Values.listenerOnly }}
{{- fail "listener.serverUrl is required with listenerOnly" }}
{{- else }}
{{- printf "http://%s.%s.svc:%v" (include "terrace.fullname" .) .Release.Namespace .Values.service.port }}
{{- end }}
{{- end }}

{{/* An env entry read from a Secret: call with (list "ENV_NAME" .Values.x.secret). */}}
{{- define "terrace.secretEnv" -}}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ (index . 1).name }}
      key: {{ (index . 1).key }}
{{- end }}

{{/* The API replicas as configured: "replicaCount N", or the autoscaler's range. */}}
{{- define "terrace.replicas" -}}
{{- if .Values.autoscaling.enabled }}
{{- printf "autoscaling (%v to %v replicas)" .Values.autoscaling.minReplicas .Values.autoscaling.maxReplicas }}
{{- else }}
{{- printf "replicaCount %v" .Values.replicaCount }}
{{- end }}
{{- end }}

{{/* Whether the API may run more than one replica: "true" or "". */}}
{{- define "terrace.severalReplicas" -}}
{{- $most := ternary .Values.autoscaling.maxReplicas .Values.replicaCount .Values.autoscaling.enabled }}
{{- if gt (int $most) 1 }}true{{ end }}
{{- end }}

{{/*
TERRACE_DATABASE_URL from database.urlSecret. The chart runs PostgreSQL only: the embedded
SQLite shape serves one process from one volume. values.schema.json refuses an empty name
first; this refuses it too when the schema is skipped (--skip-schema-validation).
*/}}
{{- define "terrace.databaseEnv" -}}
{{- if not .Values.database.urlSecret.name }}
{{- if include "terrace.severalReplicas" . }}
{{- fail (printf "database.urlSecret.name is required: %s runs several API replicas, which must share one PostgreSQL database (a Secret holding its postgres:// URL); the embedded SQLite shape serves a single process" (include "terrace.replicas" .)) }}
{{- else }}
{{- fail "database.urlSecret.name is required: the chart runs on PostgreSQL (a Secret holding its postgres:// URL); the embedded SQLite shape would keep its data in one pod's emptyDir" }}
{{- end }}
{{- end }}
{{- include "terrace.secretEnv" (list "TERRACE_DATABASE_URL" .Values.database.urlSecret) }}
{{- end }}

{{/* The restricted Pod Security Standard, for every pod of the chart. */}}
{{- define "terrace.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "terrace.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end }}
