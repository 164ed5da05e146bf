{{/*
The app.kubernetes.io/name label: gitops-reverser unless nameOverride. Selectors
use it (and only it), as artifacts/deploy does.
*/}}
{{- define "gitops-reverser.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The name of the objects: gitops-reverser unless fullnameOverride or nameOverride.
The release name is not part of it: the APIService is a cluster singleton.
*/}}
{{- define "gitops-reverser.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- include "gitops-reverser.name" . -}}
{{- end -}}
{{- end -}}

{{/* The bundled etcd's object name and its app.kubernetes.io/name label. */}}
{{- define "gitops-reverser.etcd.fullname" -}}
{{- printf "%s-etcd" (include "gitops-reverser.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{/* The ClusterIP Service of the bundled etcd's clients (etcd.bundled.resolve=env). */}}
{{- define "gitops-reverser.etcd.clientService" -}}
{{- printf "%s-client" (include "gitops-reverser.etcd.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "gitops-reverser.etcd.name" -}}
{{- printf "%s-etcd" (include "gitops-reverser.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gitops-reverser.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gitops-reverser.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{/* Labels the chart adds to metadata only, never to selectors. */}}
{{- define "gitops-reverser.commonLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "gitops-reverser.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "gitops-reverser.chart" . }}
{{- end -}}

{{- define "gitops-reverser.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gitops-reverser.name" . }}
{{- end -}}

{{- define "gitops-reverser.labels" -}}
{{ include "gitops-reverser.selectorLabels" . }}
{{ include "gitops-reverser.commonLabels" . }}
{{- end -}}

{{- define "gitops-reverser.etcd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gitops-reverser.etcd.name" . }}
{{- end -}}

{{- define "gitops-reverser.etcd.labels" -}}
{{ include "gitops-reverser.etcd.selectorLabels" . }}
{{ include "gitops-reverser.commonLabels" . }}
{{- end -}}

{{/* The --etcd-servers of the server: the bundled etcd's member 0 or the external endpoints. */}}
{{- define "gitops-reverser.etcdServers" -}}
{{- if .Values.etcd.bundled.enabled -}}
{{- $etcd := include "gitops-reverser.etcd.fullname" . -}}
{{- if eq .Values.etcd.bundled.resolve "env" -}}
{{- /* kubelet expands $(VAR) from the service variables it injects. */ -}}
{{- printf "http://$(%s_SERVICE_HOST):2379" (include "gitops-reverser.etcd.clientService" . | upper | replace "-" "_") -}}
{{- else if eq .Values.etcd.bundled.resolve "dns" -}}
{{- printf "http://%s-0.%s.%s.svc:2379" $etcd $etcd .Release.Namespace -}}
{{- else -}}
{{- fail (printf "etcd.bundled.resolve must be dns or env, not %q" .Values.etcd.bundled.resolve) -}}
{{- end -}}
{{- else -}}
{{- join "," .Values.etcd.external.endpoints -}}
{{- end -}}
{{- end -}}

{{/* The --attribution-reporters value: a string as is, a list comma-joined. */}}
{{- define "gitops-reverser.attributionReporters" -}}
{{- $r := .Values.attribution.reporters -}}
{{- if kindIs "slice" $r -}}
{{- join "," $r -}}
{{- else -}}
{{- $r | default "" -}}
{{- end -}}
{{- end -}}

{{/* "three replicas", for the Deployment's comment. */}}
{{- define "gitops-reverser.replicasInWords" -}}
{{- $n := int .Values.replicas -}}
{{- $words := list "zero" "one" "two" "three" "four" "five" "six" "seven" "eight" "nine" -}}
{{- if and (ge $n 0) (lt $n 10) }}{{ index $words $n }}{{ else }}{{ $n }}{{ end -}}
{{- if eq $n 1 }} replica{{ else }} replicas{{ end -}}
{{- end -}}

{{/* Fails the render on values that cannot work. */}}
{{- define "gitops-reverser.validate" -}}
{{- $etcd := .Values.etcd -}}
{{- if and $etcd.bundled.enabled $etcd.external.endpoints -}}
{{- fail "etcd.external.endpoints is set and etcd.bundled.enabled is true: use one etcd, set etcd.bundled.enabled=false to use the external one" -}}
{{- end -}}
{{- if not (or $etcd.bundled.enabled $etcd.external.endpoints) -}}
{{- fail "no etcd: set etcd.external.endpoints, or etcd.bundled.enabled=true" -}}
{{- end -}}
{{- if and $etcd.external.tls.secretName (not $etcd.external.endpoints) -}}
{{- fail "etcd.external.tls.secretName is only used with etcd.external.endpoints (and etcd.bundled.enabled=false)" -}}
{{- end -}}
{{- if not (has .Values.antiAffinity (list "preferred" "required" "none")) -}}
{{- fail (printf "antiAffinity must be preferred, required or none, not %q" (toString .Values.antiAffinity)) -}}
{{- end -}}
{{- if lt (int .Values.replicas) 1 -}}
{{- fail "replicas must be at least 1" -}}
{{- end -}}
{{- end -}}
