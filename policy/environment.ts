/**
 * Which stacks are production. @pulumi/policy 1.21 hands a policy the stack's tags (`args.stackTags`, sent by the
 * CLI in `ConfigureStack`) and its own policy config (`args.getConfig()`), but not the stack's config, so the
 * program's `model-fleet:environment` is not visible to the pack. A stack is production when EITHER:
 *
 * - its stack tag `environment` is `production` (`pulumi stack tag set environment production`); or
 * - the policy's config sets `environment: "production"` (`--policy-pack-config policy/production.json`).
 *
 * Either signal is enough: a policy that guards production errs on the strict side. The offline runner
 * (`npm run policy`) sets the `environment` tag from the stack's `model-fleet:environment`, as CI does.
 */
import type { PolicyConfigSchema } from "@pulumi/policy";

export type Environment = "development" | "production";

export const ENVIRONMENT_TAG = "environment";
export const PRODUCTION = "production";

/** Config schema property every environment-aware policy declares. */
export const environmentConfigSchema: PolicyConfigSchema = {
    properties: {
        environment: {
            type: "string",
            enum: ["development", "production"],
            description: "Treat the stack as this environment (in addition to the `environment` stack tag).",
        },
    },
};

export function isProduction(args: { stackTags?: ReadonlyMap<string, string>; getConfig<T extends object>(): T }): boolean {
    const tag = args.stackTags?.get(ENVIRONMENT_TAG);
    const configured = (args.getConfig<{ environment?: string }>() ?? {}).environment;
    return tag === PRODUCTION || configured === PRODUCTION;
}
