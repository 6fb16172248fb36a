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
