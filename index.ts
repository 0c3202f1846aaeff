/**
 * model-fleet: versioned AI models on EKS GPU pools. This file stays thin: it loads the validated stack config,
 * builds the components and exports the stack outputs.
 */
import { loadConfig } from "./config/load";
import { EksCluster } from "./components/cluster";

const config = loadConfig();

const cluster = new EksCluster("cluster", { clusterName: config.cluster.name, region: config.region });

export const environment = config.environment;
export const clusterName = cluster.name;
