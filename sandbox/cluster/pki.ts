/**
 * The sandbox's certificates, made with openssl: one CA; the API server's serving certificate; an admin client
 * certificate (group system:masters) that the controller manager, scheduler, kwok, the Argo controller and the
 * Pulumi provider use; the service-account signing key; and the Harbor stub's serving certificate, trusted by the
 * Pulumi engine's provider host through NODE_EXTRA_CA_CERTS. As envtest does, one identity serves every component:
 * this is a throwaway local cluster, not a model of production RBAC.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface Pki {
    dir: string;
    caCert: string;
    caKey: string;
    apiserverCert: string;
    apiserverKey: string;
    adminCert: string;
    adminKey: string;
    saKey: string;
    saPub: string;
    harborCert: string;
    harborKey: string;
}

function openssl(args: string[], cwd: string): void {
    try {
        execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
        const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
        if (err.code === "ENOENT") {
            throw new Error("openssl is not installed (apt-get install openssl): the sandbox makes its certificates with it");
        }
        throw new Error(`openssl ${args.join(" ")}: ${err.stderr?.toString() ?? err.message}`);
    }
}

/** A key and a certificate `<name>.{key,crt}` in `dir`, signed by the CA there. */
export function signed(dir: string, name: string, subject: string, ext: string): void {
    openssl(
        [
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            `${name}.key`,
            "-subj",
            subject,
            "-out",
            `${name}.csr`,
        ],
        dir,
    );
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    openssl(
        [
            "x509",
            "-req",
            "-in",
            `${name}.csr`,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-sha256",
            "-extfile",
            `${name}.ext`,
            "-out",
            `${name}.crt`,
        ],
        dir,
    );
}

export function makePki(dir: string): Pki {
    fs.mkdirSync(dir, { recursive: true });
    openssl(
        [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-subj",
            "/CN=model-fleet-sandbox-ca",
            "-days",
            "30",
            "-out",
            "ca.crt",
        ],
        dir,
    );
    const server = (sans: string) =>
        `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans}\n`;
    signed(
        dir,
        "apiserver",
        "/CN=kube-apiserver",
        server("IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"),
    );
    signed(dir, "harbor", "/CN=harbor-stub", server("IP:127.0.0.1,DNS:localhost"));
    signed(
        dir,
        "admin",
        "/O=system:masters/CN=sandbox-admin",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    );
    openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key"], dir);
    openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
    const p = (f: string) => path.join(dir, f);
    return {
        dir,
        caCert: p("ca.crt"),
        caKey: p("ca.key"),
        apiserverCert: p("apiserver.crt"),
        apiserverKey: p("apiserver.key"),
        adminCert: p("admin.crt"),
        adminKey: p("admin.key"),
        saKey: p("sa.key"),
        saPub: p("sa.pub"),
        harborCert: p("harbor.crt"),
        harborKey: p("harbor.key"),
    };
}

/** A kubeconfig for the admin identity, with the certificates embedded (the file stands alone). */
export function adminKubeconfig(pki: Pki, server: string): string {
    const b64 = (f: string) => fs.readFileSync(f).toString("base64");
    return [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: sandbox",
        "  cluster:",
        `    server: ${server}`,
        `    certificate-authority-data: ${b64(pki.caCert)}`,
        "contexts:",
        "- name: sandbox",
        "  context:",
        "    cluster: sandbox",
        "    user: sandbox-admin",
        "current-context: sandbox",
        "users:",
        "- name: sandbox-admin",
        "  user:",
        `    client-certificate-data: ${b64(pki.adminCert)}`,
        `    client-key-data: ${b64(pki.adminKey)}`,
        "",
    ].join("\n");
}
