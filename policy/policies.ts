/**
 * The model-fleet policies, as one array. Importing this module has no side effects (no `PolicyPack`, no gRPC
 * server): `policy/index.ts` serves them to the Pulumi CLI, `scripts/policy.ts` and the tests evaluate them
 * offline through `support/policy/evaluate.ts`.
 */
import type { Policies } from "@pulumi/policy";
import { admissionPolicies } from "./admission";
import { advisoryPolicies } from "./advisory";
import { ecrPolicies } from "./ecr";
import { gpuPolicies } from "./gpu";
import { hpaPolicies } from "./hpa";
import { imagePolicies } from "./images";
import { podPolicies } from "./pods";
import { rolloutPolicies } from "./rollouts";
import { servicePolicies } from "./services";

export const policies: Policies = [
    ...imagePolicies,
    ...ecrPolicies,
    ...podPolicies,
    ...gpuPolicies,
    ...hpaPolicies,
    ...rolloutPolicies,
    ...servicePolicies,
    ...admissionPolicies,
    ...advisoryPolicies,
];
