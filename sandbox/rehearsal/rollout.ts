/**
 * What the rehearsal does to the model's Argo Rollout, as `kubectl argo rollouts` would: read it at rest, abort it,
 * promote it in full, and wait until it settles on a version. Every wait takes a StopCheck (signal.ts).
 */
import * as k8s from "@kubernetes/client-node";
import { labelValue } from "../../domain/labels";
import type { Kube, KubeObject } from "../cluster/kube";
import { StopCheck, waitUntil } from "./signal";

export const ROLLOUT_API = "argoproj.io/v1alpha1";

/** The Rollout API the rehearsal uses: `Kube.read` and the client's status patches. */
export type RolloutReader = Pick<Kube, "read">;
export type RolloutPatcher = Pick<k8s.KubeConfig, "makeApiClient">;

/** Healthy, stable = current pod-template hash, not aborted. */
export function rolloutAtRest(r: KubeObject | undefined): boolean {
    const st = r?.status ?? {};
    return st.phase === "Healthy" && !!st.stableRS && st.stableRS === st.currentPodHash && st.abort !== true;
}

const target = (ns: string, name: string) => ({ group: "argoproj.io", version: "v1alpha1", namespace: ns, plural: "rollouts", name });
const mergePatch = () => k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

export async function abortRollout(kc: RolloutPatcher, ns: string, name: string): Promise<void> {
    // As `kubectl argo rollouts abort` (pkg/kubectl-argo-rollouts/cmd/abort): a merge patch of the status subresource.
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    await api.patchNamespacedCustomObjectStatus({ ...target(ns, name), body: { status: { abort: true } } }, mergePatch());
}

export async function promoteFull(kc: RolloutPatcher, ns: string, name: string, specPaused: boolean): Promise<void> {
    // As `kubectl argo rollouts promote --full` (pkg/kubectl-argo-rollouts/cmd/promote): status.promoteFull, and unpause.
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    await api.patchNamespacedCustomObjectStatus({ ...target(ns, name), body: { status: { promoteFull: true } } }, mergePatch());
    if (specPaused) await api.patchNamespacedCustomObject({ ...target(ns, name), body: { spec: { paused: false } } }, mergePatch());
}

/**
 * Waits until the Rollout is at rest on `version` and returns its stable hash. A rollback to `expectHash` (the stable
 * ReplicaSet, or one within the rollbackWindow) is Argo's to finish. Any OTHER new ReplicaSet of that same version
 * means the program renders the version differently than when it was deployed (the code changed in between): it
 * is promoted in full, as an operator would, since it is the version already serving, not a release.
 */
export async function settleOnVersion(o: {
    kube: RolloutReader;
    kc: RolloutPatcher;
    ns: string;
    model: string;
    version: string;
    expectHash?: string;
    seconds: number;
    log: (l: string) => void;
    stopped?: StopCheck;
}): Promise<string> {
    let promoted = "";
    return waitUntil(
        `Rollout ${o.ns}/${o.model} Healthy on version ${o.version}`,
        o.seconds,
        async () => {
            const r = await o.kube.read(ROLLOUT_API, "Rollout", o.model, o.ns);
            const v = r?.spec?.template?.metadata?.labels?.["app.kubernetes.io/version"];
            if (!r || v !== labelValue(o.version)) throw new Error(`the Rollout's template is version ${v ?? "(none)"}, not ${o.version}`);
            const st = r.status ?? {};
            if (rolloutAtRest(r)) return st.stableRS as string;
            const current: string | undefined = st.currentPodHash;
            if (current && current !== st.stableRS && current !== o.expectHash && promoted !== current) {
                o.log(
                    `  the program renders ${o.model} ${o.version} differently than when it was deployed (new ReplicaSet ${current}): promoting it in full (status.promoteFull)`,
                );
                await promoteFull(o.kc, o.ns, o.model, r.spec?.paused === true);
                promoted = current;
            }
            return undefined;
        },
        o.stopped,
    );
}
