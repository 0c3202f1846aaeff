/**
 * Kyverno v1.18.2's admission controller (`./cmd/kyverno`, tool `kyverno-admission`) as a sandbox component, run out
 * of cluster as upstream's DEVELOPMENT.md "Debugging local code" and `.vscode/launch.json` ("Launch Kyverno") run it:
 *  - `--serverIP=127.0.0.1:<port>`: the webhook URLs it registers are `https://<serverIP><path>` (no port added,
 *    pkg/controllers/webhook/utils.go), and its serving pair gets an IP SAN from it (pkg/tls/keypair.go). A set
 *    serverIP is also its "debug" mode (pkg/utils/runtime/utils.go `IsDebug`): no Deployment, Service or RBAC needed.
 *  - `--caSecretName`/`--tlsSecretName`: required (cmd/kyverno/main.go exits without them); Kyverno makes its CA and
 *    pair itself and keeps them in these Secrets of its namespace (pkg/tls/renewer.go).
 *  - every listener on loopback: the webhook server, the metrics server (default 0.0.0.0:8000), the controller-runtime
 *    metrics server off (default :8080).
 *  - `--admissionReports=false`: no reports controller runs here to drain them.
 * Environment (pkg/config/config.go): KYVERNO_NAMESPACE, KYVERNO_POD_NAME (its leader-election identity),
 * KYVERNO_DEPLOYMENT. Readiness is the webhook server's `/health/readiness` (200 once its certificates validate); the
 * caller also waits for the policy's webhooks (controlPlane.ts `waitAdmissionReady`).
 */
import { CommonComponentConfig, Component, LOOPBACK, withExtraArgs } from "./component";

/** The namespace Kyverno runs "in" (its Secrets, Leases and Events); it must exist before it starts. */
export const KYVERNO_NAMESPACE = "kyverno";
/** The Secrets the chart names for service `kyverno-svc` in namespace `kyverno` (charts/kyverno templates). */
export const KYVERNO_CA_SECRET = "kyverno-svc.kyverno.svc.kyverno-tls-ca";
export const KYVERNO_TLS_SECRET = "kyverno-svc.kyverno.svc.kyverno-tls-pair";
/** Label of every webhook configuration Kyverno manages (api/kyverno/constants.go LabelWebhookManagedBy, set by pkg/controllers/webhook/utils.go objectMeta). */
export const KYVERNO_WEBHOOK_SELECTOR = "webhook.kyverno.io/managed-by=kyverno";

export interface KyvernoComponentConfig extends CommonComponentConfig {
    kubeconfig: string;
    /** Port of its HTTPS webhook server (also /health/*). */
    webhookPort: number;
    /** Port of its Prometheus metrics. */
    metricsPort: number;
}

export function buildKyvernoComponent(conf: KyvernoComponentConfig): Component {
    const address = conf.address ?? LOOPBACK;
    return {
        name: "kyverno",
        command: conf.binary,
        args: withExtraArgs(
            [
                `--kubeconfig=${conf.kubeconfig}`,
                `--serverIP=${address}:${conf.webhookPort}`,
                `--webhookServerHost=${address}`,
                `--webhookServerPort=${conf.webhookPort}`,
                `--caSecretName=${KYVERNO_CA_SECRET}`,
                `--tlsSecretName=${KYVERNO_TLS_SECRET}`,
                `--metricsHost=${address}`,
                `--metricsPort=${conf.metricsPort}`,
                "--controllerRuntimeMetricsAddress=0",
                "--admissionReports=false",
                // launch.json's values; only generate and report policies use them.
                "--backgroundServiceAccountName=system:serviceaccount:kyverno:kyverno-background-controller",
                "--reportsServiceAccountName=system:serviceaccount:kyverno:kyverno-reports-controller",
                "--disableLogColor",
                "--v=2",
            ],
            conf.extraArgs,
        ),
        // All six are checked at start (cmd/internal/check.go); the values of upstream's .vscode/launch.json.
        env: {
            KYVERNO_NAMESPACE: KYVERNO_NAMESPACE,
            KYVERNO_SERVICEACCOUNT_NAME: "kyverno-admission-controller",
            KYVERNO_DEPLOYMENT: "kyverno-sandbox",
            KYVERNO_POD_NAME: "kyverno-sandbox",
            // The ConfigMaps of its configuration and metrics configuration: absent, so the defaults apply
            // (pkg/controllers/generic/configmap/controller.go).
            INIT_CONFIG: "kyverno",
            METRICS_CONFIG: "kyverno-metrics",
        },
        // The webhook server's certificate is Kyverno's own (its CA is in a Secret): the probe does not verify it.
        health: { url: `https://${address}:${conf.webhookPort}/health/readiness`, tls: "insecure", accept: "ok" },
        timeoutSeconds: 120,
    };
}
