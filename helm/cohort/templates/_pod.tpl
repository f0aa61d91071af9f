{{/*
Pod template shared by the StatefulSet (embedded store) and the Deployment (postgres store).
*/}}
{{- define "cohort.podTemplate" -}}
{{- $pg := .Values.store.postgres -}}
metadata:
  labels:
    {{- include "cohort.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- /*
    Roll the pods when the configuration or a secret value given to the chart changes. Hashed from
    the values, not the rendered Secret: a generated token is random in every render but the first
    is kept (lookup), so hashing it would roll the pods on the first upgrade for nothing.
    */}}
    checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if include "cohort.chartSecret.enabled" . }}
    checksum/secret: {{ list .Values.store.postgres.password .Values.auth.token .Values.auth.adminToken | toJson | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "cohort.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
  {{- /*
  Service links would inject COHORT_*_PORT / COHORT_*_SERVICE_HOST variables for every
  Service whose name starts with "cohort", and Spring would bind them as cohort.* settings.
  */}}
  enableServiceLinks: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- if .Values.affinity }}
  affinity:
    {{- toYaml .Values.affinity | nindent 4 }}
  {{- else if ne .Values.podAntiAffinity.mode "none" }}
  affinity:
    podAntiAffinity:
      {{- if eq .Values.podAntiAffinity.mode "required" }}
      requiredDuringSchedulingIgnoredDuringExecution:
        - topologyKey: {{ .Values.podAntiAffinity.topologyKey }}
          labelSelector:
            matchLabels:
              {{- include "cohort.selectorLabels" . | nindent 14 }}
      {{- else }}
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: {{ .Values.podAntiAffinity.weight }}
          podAffinityTerm:
            topologyKey: {{ .Values.podAntiAffinity.topologyKey }}
            labelSelector:
              matchLabels:
                {{- include "cohort.selectorLabels" . | nindent 16 }}
      {{- end }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: tc
      image: {{ include "cohort.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      ports:
        - name: grpc
          containerPort: {{ .Values.ports.grpc }}
          protocol: TCP
        - name: http
          containerPort: {{ .Values.ports.http }}
          protocol: TCP
      env:
        - name: POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: COHORT_TC_ADVERTISED_ADDRESS
          value: {{ .Values.tc.advertisedAddress | default (printf "$(POD_IP):%d" (int .Values.ports.grpc)) | quote }}
        - name: SPRING_CONFIG_ADDITIONAL_LOCATION
          value: "optional:file:/config/"
        {{- if .Values.tls.existingSecret }}
        - name: COHORT_TC_TLS_ENABLED
          value: "true"
        - name: COHORT_TC_TLS_CERTIFICATE
          value: /etc/cohort/tls/tls.crt
        - name: COHORT_TC_TLS_PRIVATE_KEY
          value: /etc/cohort/tls/tls.key
        - name: COHORT_TC_TLS_CLIENT_AUTH
          value: {{ .Values.tls.clientAuth | quote }}
        {{- if ne .Values.tls.clientAuth "none" }}
        - name: COHORT_TC_TLS_CLIENT_CA
          value: /etc/cohort/tls/ca.crt
        {{- end }}
        {{- end }}
        {{- with .Values.javaToolOptions }}
        - name: JAVA_TOOL_OPTIONS
          value: {{ . | quote }}
        {{- end }}
        {{- if eq .Values.store.type "postgres" }}
        {{- if and $pg.existingSecret $pg.secretKeys.url }}
        - name: COHORT_TC_STORE_POSTGRES_URL
          valueFrom:
            secretKeyRef:
              name: {{ $pg.existingSecret }}
              key: {{ $pg.secretKeys.url }}
        {{- end }}
        {{- if and $pg.existingSecret $pg.secretKeys.username }}
        - name: COHORT_TC_STORE_POSTGRES_USERNAME
          valueFrom:
            secretKeyRef:
              name: {{ $pg.existingSecret }}
              key: {{ $pg.secretKeys.username }}
        {{- end }}
        - name: COHORT_TC_STORE_POSTGRES_PASSWORD
          valueFrom:
            secretKeyRef:
              {{- if $pg.existingSecret }}
              name: {{ $pg.existingSecret }}
              key: {{ $pg.secretKeys.password }}
              {{- else }}
              name: {{ include "cohort.fullname" . }}
              key: postgres-password
              {{- end }}
        {{- end }}
        {{- if .Values.auth.enabled }}
        - name: COHORT_TC_AUTH_TOKEN
          valueFrom:
            secretKeyRef:
              {{- if .Values.auth.existingSecret }}
              name: {{ .Values.auth.existingSecret }}
              key: {{ .Values.auth.existingSecretKey }}
              {{- else }}
              name: {{ include "cohort.fullname" . }}
              key: auth-token
              {{- end }}
        - name: COHORT_TC_AUTH_ADMIN_TOKEN
          valueFrom:
            secretKeyRef:
              {{- if .Values.auth.existingSecret }}
              name: {{ .Values.auth.existingSecret }}
              key: {{ .Values.auth.existingSecretAdminKey }}
              optional: true
              {{- else }}
              name: {{ include "cohort.fullname" . }}
              key: admin-token
              {{- end }}
        {{- end }}
        {{- with .Values.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.envFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      startupProbe:
        httpGet:
          path: /actuator/health/liveness
          port: http
        {{- toYaml .Values.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /actuator/health/liveness
          port: http
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /actuator/health/readiness
          port: http
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /config
          readOnly: true
        - name: data
          mountPath: {{ include "cohort.dataDir" . }}
        - name: tmp
          mountPath: /tmp
        {{- if .Values.tls.existingSecret }}
        - name: tls
          mountPath: /etc/cohort/tls
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "cohort.fullname" . }}
    - name: tmp
      emptyDir:
        sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
    {{- if .Values.tls.existingSecret }}
    - name: tls
      secret:
        secretName: {{ .Values.tls.existingSecret }}
    {{- end }}
    {{- if eq .Values.store.type "postgres" }}
    {{- /* The postgres store keeps nothing on disk; the TC still gets a writable data dir. */}}
    - name: data
      emptyDir:
        sizeLimit: {{ $pg.dataSizeLimit }}
    {{- end }}
{{- end }}
