{{/* Names, labels, image and shared pod settings of the backrunner chart. */}}

{{- define "backrunner.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "backrunner.fullname" -}}
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

{{/* "<fullname>-<component>", kept within 63 characters. */}}
{{- define "backrunner.componentName" -}}
{{- printf "%s-%s" (include "backrunner.fullname" .root | trunc (int (sub 62 (len .component))) | trimSuffix "-") .component }}
{{- end }}

{{- define "backrunner.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; call with (dict "root" $ "component" "proxy"). */}}
{{- define "backrunner.labels" -}}
helm.sh/chart: {{ include "backrunner.chart" .root }}
{{ include "backrunner.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: backrunner
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "backrunner.selectorLabels" -}}
app.kubernetes.io/name: {{ include "backrunner.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "backrunner.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "backrunner.operatorServiceAccount" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "backrunner.componentName" (dict "root" . "component" "operator")) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "backrunner.leaseName" -}}
{{- default (include "backrunner.componentName" (dict "root" . "component" "operator")) .Values.operator.leaderElection.leaseName }}
{{- end }}

{{- define "backrunner.installId" -}}
{{- default .Release.Name .Values.operator.installId }}
{{- end }}

{{/* Host of the node headless Service (pods are <name>-N.<this>). */}}
{{- define "backrunner.nodeServiceHost" -}}
{{- printf "%s.%s.svc" (include "backrunner.componentName" (dict "root" . "component" "node")) .Release.Namespace }}
{{- end }}

{{/* Storage remotes of the proxy: proxy.remotes, else the chart's nodes. */}}
{{- define "backrunner.proxyRemotes" -}}
{{- if .Values.proxy.remotes }}
{{- join "," .Values.proxy.remotes }}
{{- else if .Values.node.enabled }}
{{- printf "%s:%d:2" (include "backrunner.nodeServiceHost" .) (int .Values.node.port) }}
{{- else }}
{{- fail "proxy.remotes is empty: list your Elliptics nodes, or set node.enabled=true" }}
{{- end }}
{{- end }}

{{- define "backrunner.placementHubUrl" -}}
{{- if .Values.proxy.placementHub.url }}
{{- .Values.proxy.placementHub.url }}
{{- else }}
{{- printf "http://%s.%s.svc:%d" (include "backrunner.componentName" (dict "root" . "component" "operator")) .Release.Namespace (int .Values.operator.service.port) }}
{{- end }}
{{- end }}

{{/* One TOML value from a Helm value (numbers come in as float64: whole ones print as integers). */}}
{{- define "backrunner.tomlValue" -}}
{{- if kindIs "string" . }}{{ toJson . }}
{{- else if kindIs "bool" . }}{{ . }}
{{- else if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) }}
{{- if eq (float64 .) (float64 (int64 .)) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else if kindIs "slice" . }}[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ include "backrunner.tomlValue" $v }}{{ end }}]
{{- else if kindIs "invalid" . }}{{ fail "null is not a TOML value" }}
{{- else }}{{ fail (printf "unsupported TOML value %v" .) }}
{{- end }}
{{- end }}

{{/* `key = value` lines of a flat map, sorted by key. */}}
{{- define "backrunner.tomlPairs" -}}
{{- range $k, $v := . }}
{{ $k }} = {{ include "backrunner.tomlValue" $v }}
{{- end }}
{{- end }}

{{/* A table of string values with quoted keys, e.g. extra_headers. */}}
{{- define "backrunner.tomlStringTable" -}}
{{- range $k, $v := . }}
{{ toJson $k }} = {{ toJson (toString $v) }}
{{- end }}
{{- end }}

{{/* Pod security context, and container security context. */}}
{{- define "backrunner.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "backrunner.securityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{- define "backrunner.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Soft anti-affinity that spreads a component's pods over nodes; (dict "root" $ "component" "x"). */}}
{{- define "backrunner.spreadAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "backrunner.selectorLabels" . | nindent 12 }}
{{- end }}

{{/* API versions that moved to GA after Kubernetes 1.20 (the oldest supported). */}}
{{- define "backrunner.pdbApiVersion" -}}
{{- if .Capabilities.APIVersions.Has "policy/v1" }}policy/v1{{ else }}policy/v1beta1{{ end }}
{{- end }}

{{- define "backrunner.hpaApiVersion" -}}
{{- if .Capabilities.APIVersions.Has "autoscaling/v2" }}autoscaling/v2{{ else }}autoscaling/v2beta2{{ end }}
{{- end }}
