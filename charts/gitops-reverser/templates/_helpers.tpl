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

{{/*
The --etcd-servers of the server: every member of the bundled etcd (by name,
or the client Service's address with resolve=env) or the external endpoints. The bundled etcd is https only (mutual TLS); its certificate names
both addresses (gitops-reverser.etcd.sans).
*/}}
{{- define "gitops-reverser.etcdServers" -}}
{{- if .Values.etcd.bundled.enabled -}}
{{- $etcd := include "gitops-reverser.etcd.fullname" . -}}
{{- if eq .Values.etcd.bundled.resolve "env" -}}
{{- /* kubelet expands $(VAR) from the service variables it injects. */ -}}
{{- printf "https://$(%s_SERVICE_HOST):2379" (include "gitops-reverser.etcd.clientService" . | upper | replace "-" "_") -}}
{{- else if has .Values.etcd.bundled.resolve (list "dns" "hosts") -}}
{{- $urls := list -}}
{{- range include "gitops-reverser.etcd.memberHosts" . | fromJsonArray -}}
{{- $urls = append $urls (printf "https://%s:2379" .) -}}
{{- end -}}
{{- join "," $urls -}}
{{- else -}}
{{- fail (printf "etcd.bundled.resolve must be dns, env or hosts, not %q" .Values.etcd.bundled.resolve) -}}
{{- end -}}
{{- else -}}
{{- join "," .Values.etcd.external.endpoints -}}
{{- end -}}
{{- end -}}

{{/*
The Secret with the bundled etcd's CA (ca.crt) and its server and peer
certificate (tls.crt, tls.key): etcd.bundled.tls.secretName, or the one the
chart creates (templates/etcd-tls.yaml).
*/}}
{{- define "gitops-reverser.etcd.tlsSecret" -}}
{{- .Values.etcd.bundled.tls.secretName | default (printf "%s-tls" (include "gitops-reverser.etcd.fullname" .)) -}}
{{- end -}}

{{/*
The Secret with the server's client certificate for the bundled etcd (tls.crt,
tls.key) and the CA that signed etcd's (ca.crt):
etcd.bundled.tls.clientSecretName, or the one the chart creates.
*/}}
{{- define "gitops-reverser.etcd.clientSecret" -}}
{{- .Values.etcd.bundled.tls.clientSecretName | default (printf "%s-etcd-client" (include "gitops-reverser.fullname" .)) -}}
{{- end -}}

{{/*
The ClusterIP of the bundled etcd's client Service (etcd.bundled.resolve=env):
etcd.bundled.clientService.clusterIP, else the address the Service already has
(an upgrade), else "" (a first install, which validate refuses).
*/}}
{{- define "gitops-reverser.etcd.clientServiceIP" -}}
{{- if eq .Values.etcd.bundled.resolve "env" -}}
{{- $svc := lookup "v1" "Service" .Release.Namespace (include "gitops-reverser.etcd.clientService" .) -}}
{{- .Values.etcd.bundled.clientService.clusterIP | default (dig "spec" "clusterIP" "" $svc) -}}
{{- end -}}
{{- end -}}

{{/*
The names in the bundled etcd's server and peer certificate, as JSON {dns, ips}:
every member's stable name in the headless Service (*.<etcd>.<ns>.svc, so 1 or
3 members need no new certificate), the headless and the client Service's
names, localhost and loopback (probes, etcdctl in the pod) and, with
resolve=env, the client Service's ClusterIP: the server connects by that
address, so the TLS check is against it.
*/}}
{{- define "gitops-reverser.etcd.sans" -}}
{{- $etcd := include "gitops-reverser.etcd.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $domain := .Values.clusterDomain | default "cluster.local" -}}
{{- $dns := list "localhost" (printf "*.%s.%s.svc" $etcd $ns) (printf "*.%s.%s.svc.%s" $etcd $ns $domain) -}}
{{- range $name := list $etcd (include "gitops-reverser.etcd.clientService" .) -}}
{{- $dns = concat $dns (list $name (printf "%s.%s" $name $ns) (printf "%s.%s.svc" $name $ns) (printf "%s.%s.svc.%s" $name $ns $domain)) -}}
{{- end -}}
{{- $ips := list "127.0.0.1" "::1" -}}
{{- with include "gitops-reverser.etcd.clientServiceIP" . -}}
{{- $ips = append $ips . -}}
{{- end -}}
{{- toJson (dict "dns" $dns "ips" $ips) -}}
{{- end -}}

{{/*
The bundled etcd's certificates the chart creates (etcd.bundled.tls.secretName
empty), as JSON of base64 PEMs {ca, cert, key, clientCert, clientKey}, with
issuedFor (what they were made for: etcd.bundled.tls.rotation, days and the
names) and checksum (in the pods' annotations: new certificates restart them).

helm upgrade reuses the Secrets already in the cluster (lookup) while their
configbutler.ai/etcd-tls-issued-for annotation matches; otherwise (a first
install, a Secret deleted, rotation or the names changed) it makes a new CA and
new certificates: genCA, then genSignedCert, whose certificates are valid for
both server and client use, as etcd peers need. Made once per render and kept
in the root context, which every template of the chart shares, so the Secrets
and the pods' checksums agree.
*/}}
{{- define "gitops-reverser.etcd.tls" -}}
{{- if not (hasKey . "gitopsReverserEtcdTLS") -}}
{{- $t := .Values.etcd.bundled.tls -}}
{{- $ns := .Release.Namespace -}}
{{- $sans := include "gitops-reverser.etcd.sans" . | fromJson -}}
{{- $days := int $t.days -}}
{{- $issuedFor := printf "%s/%d/%s" (toString $t.rotation) $days (toJson $sans | sha256sum | trunc 16) -}}
{{- $key := "configbutler.ai/etcd-tls-issued-for" -}}
{{- $srv := lookup "v1" "Secret" $ns (include "gitops-reverser.etcd.tlsSecret" .) -}}
{{- $cli := lookup "v1" "Secret" $ns (include "gitops-reverser.etcd.clientSecret" .) -}}
{{- $out := dict -}}
{{- if and $srv $cli (eq (dig "metadata" "annotations" $key "" $srv) $issuedFor) (eq (dig "metadata" "annotations" $key "" $cli) $issuedFor) -}}
{{- $s := $srv.data | default dict -}}
{{- $c := $cli.data | default dict -}}
{{- if and (index $s "ca.crt") (index $s "tls.crt") (index $s "tls.key") (index $c "tls.crt") (index $c "tls.key") -}}
{{- $out = dict "ca" (index $s "ca.crt") "cert" (index $s "tls.crt") "key" (index $s "tls.key") "clientCert" (index $c "tls.crt") "clientKey" (index $c "tls.key") -}}
{{- end -}}
{{- end -}}
{{- if not $out -}}
{{- $ca := genCA (printf "%s-ca" (include "gitops-reverser.etcd.fullname" .)) $days -}}
{{- $server := genSignedCert (include "gitops-reverser.etcd.fullname" .) $sans.ips $sans.dns $days $ca -}}
{{- $client := genSignedCert (include "gitops-reverser.fullname" .) nil nil $days $ca -}}
{{- $out = dict "ca" ($ca.Cert | b64enc) "cert" ($server.Cert | b64enc) "key" ($server.Key | b64enc) "clientCert" ($client.Cert | b64enc) "clientKey" ($client.Key | b64enc) -}}
{{- end -}}
{{- $_ := set $out "issuedFor" $issuedFor -}}
{{- $_ := set $out "checksum" (print $out.ca $out.cert $out.clientCert | sha256sum) -}}
{{- $_ := set . "gitopsReverserEtcdTLS" $out -}}
{{- end -}}
{{- toJson (get . "gitopsReverserEtcdTLS") -}}
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
{{- if and $etcd.bundled.enabled (ne (empty $etcd.bundled.tls.secretName) (empty $etcd.bundled.tls.clientSecretName)) -}}
{{- fail "etcd.bundled.tls.secretName and etcd.bundled.tls.clientSecretName go together: set both (Secrets you provide) or neither (the chart creates them)" -}}
{{- end -}}
{{- if and $etcd.bundled.enabled (eq $etcd.bundled.resolve "env") (not (include "gitops-reverser.etcd.clientServiceIP" .)) -}}
{{- fail (printf "etcd.bundled.resolve=env: the server connects to etcd by the ClusterIP of the Service %s, which etcd's certificate must name; set etcd.bundled.clientService.clusterIP to a free address of the cluster's Service CIDR" (include "gitops-reverser.etcd.clientService" .)) -}}
{{- end -}}
{{- if and $etcd.bundled.clientService.clusterIP (not (and $etcd.bundled.enabled (eq $etcd.bundled.resolve "env"))) -}}
{{- fail "etcd.bundled.clientService.clusterIP is only used with etcd.bundled.enabled=true and etcd.bundled.resolve=env" -}}
{{- end -}}
{{- range $etcd.external.endpoints -}}
{{- if and (hasPrefix "http://" (lower .)) (not (regexMatch "^(?i)http://(localhost|127\\.[0-9.]+|\\[::1\\])(:|/|$)" .)) -}}
{{- fail (printf "etcd.external.endpoints: %s is plain http to a host that is not loopback, which the server refuses: use https:// and etcd.external.tls.secretName (mutual TLS)" .) -}}
{{- end -}}
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
{{- include "gitops-reverser.etcd.validateMembers" . -}}
{{- end -}}
