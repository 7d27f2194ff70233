{{/* Names, labels and the rules the schema cannot express. */}}

{{- define "consort.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "consort.fullname" -}}
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

{{- define "consort.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "consort.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "consort.selectorLabels" -}}
app.kubernetes.io/name: {{ include "consort.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "consort.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "consort.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespace SparkApplications are created in: configured, else the release's. */}}
{{- define "consort.sparkNamespace" -}}
{{- default .Release.Namespace .Values.spark.kubernetes.namespace }}
{{- end }}

{{- define "consort.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* TLS on consort's own listener (selfSigned or secret); "upstream" means a proxy ends it. */}}
{{- define "consort.tlsOnListener" -}}
{{- if ne .Values.tls.mode "upstream" }}true{{ end }}
{{- end }}

{{- define "consort.tlsSecretName" -}}
{{- if and (eq .Values.tls.mode "secret") .Values.tls.existingSecret }}
{{- .Values.tls.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "consort.fullname" .) }}
{{- end }}
{{- end }}

{{- define "consort.storeSecretName" -}}
{{- default (printf "%s-store" (include "consort.fullname" .)) .Values.store.postgresql.existingSecret }}
{{- end }}

{{- define "consort.scheme" -}}
{{- if include "consort.tlsOnListener" . }}https{{ else }}http{{ end }}
{{- end }}

{{/*
Refuses value combinations that would deploy a broken or unsafe consort; each message names the
value, the problem and the fix. Included by the ConfigMap, so `helm template` and `helm install`
both stop on them.
*/}}
{{- define "consort.validate" -}}
{{- $sqlite := eq .Values.store.type "sqlite" }}
{{- if and $sqlite (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "replicaCount=%d with store.type=sqlite: SQLite is one file on one volume, so it serves one consort instance. Set replicaCount=1, or set store.type=postgresql (with store.postgresql.url or store.postgresql.existingSecret) to run several replicas." (int .Values.replicaCount)) }}
{{- end }}
{{- if and (not $sqlite) (not .Values.store.postgresql.url) (not .Values.store.postgresql.existingSecret) }}
{{- fail "store.type=postgresql needs the database: set store.postgresql.existingSecret (a Secret whose key store.postgresql.existingSecretKey holds postgres://USER:PASSWORD@HOST:5432/DATABASE) or store.postgresql.url." }}
{{- end }}
{{- if and (not $sqlite) (not .Values.cleanroom.keyFile.existingSecret) }}
{{- fail "store.type=postgresql needs cleanroom.keyFile.existingSecret: every instance sharing a PostgreSQL store must seal and read secrets with the same 32-byte key file. Create it once (head -c 32 /dev/urandom > cleanroom.key; kubectl create secret generic consort-cleanroom-key --from-file=cleanroom.key) and set cleanroom.keyFile.existingSecret=consort-cleanroom-key." }}
{{- end }}
{{- if and (eq .Values.tls.mode "secret") (not .Values.tls.existingSecret) (or (not .Values.tls.cert) (not .Values.tls.key)) }}
{{- fail "tls.mode=secret needs tls.existingSecret (a kubernetes.io/tls Secret with tls.crt and tls.key), or both tls.cert and tls.key (PEM)." }}
{{- end }}
{{- if and .Values.tls.clientCa.existingSecret (not (include "consort.tlsOnListener" .)) }}
{{- fail "tls.clientCa.existingSecret (mutual TLS) needs TLS on consort's listener: set tls.mode=selfSigned or tls.mode=secret." }}
{{- end }}
{{- if and (eq .Values.spark.defaultBackend "kubernetes") (not .Values.spark.kubernetes.enabled) }}
{{- fail "spark.defaultBackend=kubernetes needs spark.kubernetes.enabled=true (and spark.kubernetes.image)." }}
{{- end }}
{{- if and .Values.spark.kubernetes.enabled (not .Values.spark.kubernetes.image) }}
{{- fail "spark.kubernetes.enabled=true needs spark.kubernetes.image, the Spark container image of drivers and executors (e.g. apache/spark:4.0.1)." }}
{{- end }}
{{- end }}
