/** The sandbox's Kubernetes client: @kubernetes/client-node's generic object API over the admin kubeconfig. */
import * as k8s from "@kubernetes/client-node";

export type KubeObject = k8s.KubernetesObject & { spec?: any; status?: any; data?: any; [k: string]: unknown };

export const FIELD_MANAGER = "model-fleet-sandbox";

export class Kube {
    readonly objects: k8s.KubernetesObjectApi;

    constructor(kubeconfigPath: string) {
        const kc = new k8s.KubeConfig();
        kc.loadFromFile(kubeconfigPath);
        this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    }

    /**
     * Server-side apply (create or update), as `kubectl apply --server-side --force-conflicts` does. Plain objects
     * go through the library's YAML loader first: its serializer maps typed models' field names and would drop
     * keys such as `x-kubernetes-int-or-string` from an object that is not one.
     */
    async apply(obj: KubeObject): Promise<KubeObject> {
        const typed = k8s.loadYaml<KubeObject>(JSON.stringify(obj));
        return this.objects.patch(typed, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
    }

    async list(apiVersion: string, kind: string, namespace?: string, labelSelector?: string): Promise<KubeObject[]> {
        const res = await this.objects.list<KubeObject>(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector);
        return res.items;
    }

    async read(apiVersion: string, kind: string, name: string, namespace?: string): Promise<KubeObject | undefined> {
        try {
            return await this.objects.read<KubeObject>({ apiVersion, kind, metadata: { name, namespace } });
        } catch (e) {
            if (statusCode(e) === 404) return undefined;
            throw e;
        }
    }

    async delete(obj: KubeObject): Promise<void> {
        try {
            await this.objects.delete(obj);
        } catch (e) {
            if (statusCode(e) !== 404) throw e;
        }
    }
}

export function statusCode(e: unknown): number | undefined {
    const err = e as { code?: number; statusCode?: number; response?: { statusCode?: number } };
    return err.code ?? err.statusCode ?? err.response?.statusCode;
}

/** One multi-document YAML text → objects (empty documents dropped). */
export function parseManifests(text: string, parse: (doc: string) => unknown): KubeObject[] {
    return text
        .split(/^---\s*$/m)
        .map((d) => parse(d) as KubeObject | null)
        .filter((o): o is KubeObject => o !== null && typeof o === "object" && typeof o.kind === "string");
}
