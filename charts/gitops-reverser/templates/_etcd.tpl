{{/*
Helpers of the bundled etcd's members (etcd.bundled.replicas): their count,
names and addresses, the /etc/hosts entries of resolve=hosts, and the checks
that refuse a member count the chart cannot honour.
*/}}

{{/* The member count: etcd.bundled.replicas, 1 when absent (values reused from a chart before it). */}}
{{- define "gitops-reverser.etcd.replicas" -}}
{{- if hasKey .Values.etcd.bundled "replicas" -}}
{{- int .Values.etcd.bundled.replicas -}}
{{- else -}}
1
{{- end -}}
{{- end -}}

{{/*
Each member's stable name, <etcd>-<i>.<etcd>.<ns>.svc, as a JSON list: the
headless Service gives it in DNS (resolve=dns), the pods' /etc/hosts with
resolve=hosts. etcd's certificate names *.<etcd>.<ns>.svc, so the same
certificate serves every member.
*/}}
{{- define "gitops-reverser.etcd.memberHosts" -}}
{{- $etcd := include "gitops-reverser.etcd.fullname" . -}}
{{- $hosts := list -}}
{{- range $i := until (int (include "gitops-reverser.etcd.replicas" .)) -}}
{{- $hosts = append $hosts (printf "%s-%d.%s.%s.svc" $etcd $i $etcd $.Release.Namespace) -}}
{{- end -}}
{{- toJson $hosts -}}
{{- end -}}

{{/*
resolve=hosts: the pods' hostAliases naming each member's fixed ClusterIP
(etcd.bundled.members.clusterIPs, a Service per member), for clusters without
DNS. Every member and every server pod resolves the members the same way.
*/}}
{{- define "gitops-reverser.etcd.hostAliases" -}}
{{- if and .Values.etcd.bundled.enabled (eq .Values.etcd.bundled.resolve "hosts") -}}
{{- $ips := (.Values.etcd.bundled.members).clusterIPs | default list -}}
hostAliases:
{{- range $i, $host := include "gitops-reverser.etcd.memberHosts" . | fromJsonArray }}
- ip: {{ index $ips $i | quote }}
  hostnames: [{{ $host | quote }}]
{{- end }}
{{- end -}}
{{- end -}}

{{/*
--initial-cluster of the bundled etcd: every member's name and peer URL.
*/}}
{{- define "gitops-reverser.etcd.initialCluster" -}}
{{- $etcd := include "gitops-reverser.etcd.fullname" . -}}
{{- $members := list -}}
{{- range $i, $host := include "gitops-reverser.etcd.memberHosts" . | fromJsonArray -}}
{{- $members = append $members (printf "%s-%d=https://%s:2380" $etcd $i $host) -}}
{{- end -}}
{{- join "," $members -}}
{{- end -}}

{{/* Fails the render on a member count the chart cannot honour. */}}
{{- define "gitops-reverser.etcd.validateMembers" -}}
{{- $b := .Values.etcd.bundled -}}
{{- if $b.enabled -}}
{{- $n := int (include "gitops-reverser.etcd.replicas" .) -}}
{{- if not (has $n (list 1 3)) -}}
{{- fail (printf "etcd.bundled.replicas must be 1 or 3, not %v" $b.replicas) -}}
{{- end -}}
{{- if not (has $b.resolve (list "dns" "env" "hosts")) -}}
{{- fail (printf "etcd.bundled.resolve must be dns, env or hosts, not %q" (toString $b.resolve)) -}}
{{- end -}}
{{- if and (gt $n 1) (not $b.persistence.enabled) -}}
{{- fail "etcd.bundled.replicas=3 needs etcd.bundled.persistence.enabled=true: a member that comes back without its data cannot rejoin the others" -}}
{{- end -}}
{{- if and (gt $n 1) (eq $b.resolve "env") -}}
{{- fail "etcd.bundled.replicas=3 cannot use etcd.bundled.resolve=env (one client Service, no names for the peers): use dns, or hosts with etcd.bundled.members.clusterIPs on a cluster without DNS" -}}
{{- end -}}
{{- $ips := ($b.members).clusterIPs | default list -}}
{{- if and (eq $b.resolve "hosts") (ne (len $ips) $n) -}}
{{- fail (printf "etcd.bundled.resolve=hosts needs one free ClusterIP per member in etcd.bundled.members.clusterIPs: %d given for %d members" (len $ips) $n) -}}
{{- end -}}
{{- if and $ips (ne $b.resolve "hosts") -}}
{{- fail "etcd.bundled.members.clusterIPs is only used with etcd.bundled.resolve=hosts" -}}
{{- end -}}
{{- $etcd := include "gitops-reverser.etcd.fullname" . -}}
{{- $sts := lookup "apps/v1" "StatefulSet" .Release.Namespace $etcd -}}
{{- $had := int (dig "spec" "replicas" $n ($sts | default dict)) -}}
{{- if ne $had $n -}}
{{- fail (printf "etcd.bundled.replicas cannot change on an installed release (%d members now, %d asked): members added to a running etcd this way would start a second, empty cluster beside it. docs/install.md, \"Replicated storage\", says how to move to three members" $had $n) -}}
{{- end -}}
{{- /* A release uninstalled and installed again finds its members' claims
     (a StatefulSet's claims outlive it): member 0 would start on the data
     of the etcd it had, whatever --initial-cluster says. */ -}}
{{- if and (not $sts) $b.persistence.enabled -}}
{{- $claim0 := lookup "v1" "PersistentVolumeClaim" .Release.Namespace (printf "data-%s-0" $etcd) -}}
{{- $claim1 := lookup "v1" "PersistentVolumeClaim" .Release.Namespace (printf "data-%s-1" $etcd) -}}
{{- if or (and $claim0 (not $claim1) (gt $n 1)) (and $claim1 (eq $n 1)) -}}
{{- fail (printf "etcd.bundled.replicas=%d: the claims of an earlier %s (data-%s-0%s) hold the data of an etcd with %s; its members would not form one cluster with the new ones. Delete those PersistentVolumeClaims to start empty, or install with the member count they were made for" $n $etcd $etcd (ternary ", -1, -2" "" (not (empty $claim1))) (ternary "three members" "one member" (not (empty $claim1)))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
