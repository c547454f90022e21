{{- define "planton-runner.name" -}}{{ .Release.Name }}-planton-runner{{- end -}}
{{- define "planton-runner.secret" -}}{{ default (printf "%s-credentials" (include "planton-runner.name" .)) .Values.existingSecret }}{{- end -}}
{{- define "planton-runner.sa" -}}{{ default (include "planton-runner.name" .) .Values.serviceAccount.name }}{{- end -}}
{{- define "planton-runner.labels" -}}{ app.kubernetes.io/name: planton-runner, app.kubernetes.io/instance: {{ .Release.Name }} }{{- end -}}
