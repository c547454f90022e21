{{- define "cloudops.name" -}}{{ .Release.Name }}-cloudops{{- end -}}
{{- define "cloudops.sa" -}}{{ default (include "cloudops.name" .) .Values.serviceAccount.name }}{{- end -}}
{{- define "cloudops.labels" -}}{ app.kubernetes.io/name: cloudops, app.kubernetes.io/instance: {{ .Release.Name }} }{{- end -}}
{{- define "cloudops.image" -}}{{ with .Values.image.registry }}{{ . }}/{{ end }}{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}{{- end -}}
{{- define "cloudops.hubName" -}}{{ include "cloudops.name" . }}-hub{{- end -}}
{{- define "cloudops.hubLabels" -}}{ app.kubernetes.io/name: cloudops-hub, app.kubernetes.io/instance: {{ .Release.Name }} }{{- end -}}
{{/* Every hub node's route address, by its stable name in the headless Service. */}}
{{- define "cloudops.hubRoutes" -}}
{{- $hub := include "cloudops.hubName" . -}}
{{- $out := list -}}
{{- range $i := until (int .Values.hub.nodes) -}}
{{- $out = append $out (printf "%s-%d.%s.%s.svc:%d" $hub $i $hub $.Release.Namespace (int $.Values.hub.routePort)) -}}
{{- end -}}
{{ join "," $out }}
{{- end -}}
{{/* What the control plane dials: every hub node's client port. */}}
{{- define "cloudops.hubClientUrls" -}}
{{- $hub := include "cloudops.hubName" . -}}
{{- $out := list -}}
{{- range $i := until (int .Values.hub.nodes) -}}
{{- $out = append $out (printf "tls://%s-%d.%s.%s.svc:%d" $hub $i $hub $.Release.Namespace (int $.Values.hub.clientPort)) -}}
{{- end -}}
{{ join "," $out }}
{{- end -}}
{{- define "cloudops.leafService" -}}{{ include "cloudops.name" . }}-leaf{{- end -}}
{{- define "cloudops.claim" -}}{{ default (printf "%s-data" (include "cloudops.name" .)) .Values.persistence.existingClaim }}{{- end -}}
{{- define "cloudops.databaseSecret" -}}{{ default (printf "%s-database" (include "cloudops.name" .)) .Values.database.existingSecret }}{{- end -}}
{{- define "cloudops.databaseKey" -}}{{ if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}url{{ end }}{{- end -}}
{{- define "cloudops.scheme" -}}{{ if .Values.plainHttp }}http{{ else }}https{{ end }}{{- end -}}

{{/* The gateway URL that goes into credentials and the CLI config. */}}
{{- define "cloudops.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{ .Values.publicUrl }}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{ if .Values.ingress.tls }}https{{ else }}http{{ end }}://{{ .Values.ingress.host }}
{{- else -}}
{{ include "cloudops.scheme" . }}://{{ include "cloudops.name" . }}.{{ .Release.Namespace }}.svc:{{ .Values.service.port }}
{{- end -}}
{{- end -}}

{{/* The host runners dial for the tunnel (with the hub in the pod). */}}
{{- define "cloudops.publicHost" -}}{{ default (printf "%s.%s.svc" (include "cloudops.leafService" .) .Release.Namespace) .Values.publicHost }}{{- end -}}

{{/* What `cloudops serve` would refuse at start, or what cannot work, refused at render. */}}
{{- define "cloudops.validate" -}}
{{- $r := int .Values.replicas -}}
{{- if lt $r 1 -}}
{{- fail (printf "replicas must be at least 1 (got %d)" $r) -}}
{{- end -}}
{{- if and .Values.database.url .Values.database.existingSecret -}}
{{- fail "set database.url or database.existingSecret, not both" -}}
{{- end -}}
{{- $postgres := or .Values.database.existingSecret (hasPrefix "postgres" .Values.database.url) -}}
{{- if and (gt $r 1) (not $postgres) -}}
{{- fail (printf "replicas: %d needs PostgreSQL (database.url postgres://… or database.existingSecret): the default SQLite database lives in one pod's data dir and cannot be shared between replicas" $r) -}}
{{- end -}}
{{- $nodes := int .Values.hub.nodes -}}
{{- if not (has $nodes (list 0 3 5)) -}}
{{- fail (printf "hub.nodes: %d: 0 (the hub in the control plane's pod), 3 or 5" $nodes) -}}
{{- end -}}
{{- if and (gt $nodes 0) (not .Values.hub.existingSecret) -}}
{{- fail "hub.nodes needs hub.existingSecret: the CA and key secret every node and control plane share (cloudops hub init --out DIR; kubectl create secret generic NAME --from-file=DIR)" -}}
{{- end -}}
{{- if and (gt $nodes 0) .Values.nats.url -}}
{{- fail "hub.nodes and nats.url exclude each other: the chart's hub nodes, or an existing NATS" -}}
{{- end -}}
{{- if and (gt $r 1) (not .Values.nats.url) (eq $nodes 0) -}}
{{- fail (printf "replicas: %d needs a hub they share: hub.nodes 3 (with hub.existingSecret), or an existing NATS (nats.url and nats.leafUrl); the hub the control plane starts in its pod serves that pod only" $r) -}}
{{- end -}}
{{- if and (gt $r 1) .Values.persistence.enabled (not (has "ReadWriteMany" .Values.persistence.accessModes)) -}}
{{- fail (printf "replicas: %d cannot share one ReadWriteOnce data volume: set persistence.accessModes [ReadWriteMany] or persistence.enabled false" $r) -}}
{{- end -}}
{{- if and .Values.nats.url (not .Values.nats.leafUrl) -}}
{{- fail "nats.url needs nats.leafUrl too: the leafnode URL runners dial (tls://host:port)" -}}
{{- end -}}
{{- if and .Values.nats.leafUrl (not .Values.nats.url) -}}
{{- fail "nats.leafUrl is the leafnode URL of the NATS in nats.url: set nats.url too" -}}
{{- end -}}
{{- if and .Values.nats.leafUrl (not (hasPrefix "tls://" .Values.nats.leafUrl)) -}}
{{- fail (printf "nats.leafUrl %q must be a tls:// URL" .Values.nats.leafUrl) -}}
{{- end -}}
{{- if and .Values.plainHttp .Values.tls.existingSecret -}}
{{- fail "plainHttp and tls.existingSecret exclude each other: plain HTTP behind a proxy that terminates TLS, or HTTPS with the Secret's certificate" -}}
{{- end -}}
{{- $url := include "cloudops.publicUrl" . -}}
{{- if not (or (hasPrefix "https://" $url) (hasPrefix "http://" $url)) -}}
{{- fail (printf "publicUrl %q must be an http(s):// URL" $url) -}}
{{- end -}}
{{- if and (hasPrefix "http://" $url) (not .Values.plainHttp) -}}
{{- fail (printf "publicUrl %q: the gateway serves HTTPS; use https:// (an Ingress with tls, or publicUrl), or plainHttp behind a proxy that terminates TLS" $url) -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.enabled needs ingress.host" -}}
{{- end -}}
{{- end -}}
