/**
 * KEDA's certificates in the sandbox: the operator's gRPC metrics service and the metrics apiserver's client talk
 * mTLS with ca.crt, tls.crt and tls.key from one directory (keda pkg/metricsservice/utils/tls.go), and the metrics
 * apiserver serves the aggregator with the same pair. One pair signed by the sandbox CA: IP 127.0.0.1 and the
 * in-cluster Service names, serverAuth and clientAuth.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Pki, signed } from "./pki";

export function makeKedaCerts(pki: Pki, dir: string): void {
    signed(
        pki.dir,
        "keda",
        "/CN=keda-operator",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n" +
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:keda-operator.keda.svc,DNS:keda-metrics-apiserver.keda.svc\n",
    );
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(pki.caCert, path.join(dir, "ca.crt"));
    fs.copyFileSync(path.join(pki.dir, "keda.crt"), path.join(dir, "tls.crt"));
    fs.copyFileSync(path.join(pki.dir, "keda.key"), path.join(dir, "tls.key"));
}
