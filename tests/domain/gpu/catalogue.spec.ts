import * as assert from "assert";
import * as fs from "fs";
import * as YAML from "yaml";
import {
    GpuModel,
    MIG_COMPUTE_SLICES,
    MIG_MEMORY_SLICES,
    findPlacement,
    gpuMemoryGiB,
    instanceGpu,
    knownInstanceTypes,
    layoutFits,
    migPlacements,
    migProfiles,
} from "../../../domain/gpu/catalogue";
import { needsReference, referencePath } from "../../../support/reference";

const MIG_PARTED_CONFIG = "nvidia-default-mig-parted-config.yaml";

const MIG_GPUS: GpuModel[] = ["A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB"];
const NON_MIG_GPUS: GpuModel[] = ["A10G", "L4", "L40S"];

// ------------------------------------------------------------------------------------------------------------
// Reading NVIDIA's default mig-parted config.
//
// Which GPU a config entry applies to:
//  * entries with a `device-filter` name PCI device IDs. The EC2 parts are: A100-SXM4-40GB 0x20B0 (p4d),
//    A100-SXM4-80GB 0x20B2 (p4de), H100-SXM5-80GB 0x2330 (p5), H200-SXM-141GB 0x2335 (p5e/p5en).
//  * entries without a filter belong to the GPU family named by the comment header above their section; a header
//    opens a run of sections that lasts until the next header.
//    Upstream inserted the GB200/B200 block (all-1g.23gb, all-1g.23gb.me, all-1g.24gb.me) in the middle of the
//    80GB run, so all-2g.20gb … all-7g.80gb sit below a "# GB200, B200" header although they are 80GB profiles
//    (a 2g GB200/B200 instance has ~45GB). RUN_RESUMES records that; the "naming agrees with header" test below
//    fails if the correction is wrong or another one becomes necessary.
const PCI_ID: Record<string, GpuModel> = {
    "0x20B010DE": "A100-40GB",
    "0x20B210DE": "A100-80GB",
    "0x233010DE": "H100-80GB",
    "0x233510DE": "H200-141GB",
};
const HEADER_NAMES: Record<string, RegExp> = {
    "A100-40GB": /\bA100-40GB\b/,
    "A100-80GB": /\bA100-80GB\b/,
    "H100-80GB": /\bH100-80GB\b/,
    "H200-141GB": /\bH200[- ]141GB\b/,
};
/** section → the section whose header run it resumes. */
const RUN_RESUMES: Record<string, string> = { "all-2g.20gb": "all-1g.20gb" };

interface RefEntry {
    section: string;
    gpu: GpuModel;
    filtered: boolean;
    devices: Record<string, number>;
}

function loadReference(): {
    entries: RefEntry[];
    sections: Array<{ name: string; header: string; filtered: boolean; devices: Array<Record<string, number>> }>;
} {
    const configMap = YAML.parse(fs.readFileSync(referencePath(MIG_PARTED_CONFIG), "utf8"));
    const text: string = configMap.data["config.yaml"];
    const doc = YAML.parseDocument(text);
    assert.strictEqual(doc.get("version"), "v1");
    const migConfigs = doc.get("mig-configs") as YAML.YAMLMap<YAML.Scalar<string>, YAML.YAMLSeq>;
    const headers: Record<string, string> = {};
    let header = "";
    const entries: RefEntry[] = [];
    const sections: Array<{ name: string; header: string; filtered: boolean; devices: Array<Record<string, number>> }> = [];
    for (const pair of migConfigs.items) {
        const name = String(pair.key.value);
        if (pair.key.commentBefore) header = pair.key.commentBefore;
        if (RUN_RESUMES[name]) header = headers[RUN_RESUMES[name]];
        headers[name] = header;
        const items = (pair.value?.toJSON() as Array<Record<string, any>> | undefined) ?? [];
        const filtered = items.some((i) => i["device-filter"] !== undefined);
        sections.push({ name, header, filtered, devices: items.filter((i) => i["mig-enabled"]).map((i) => i["mig-devices"] ?? {}) });
        for (const item of items) {
            if (!item["mig-enabled"]) continue;
            const devices: Record<string, number> = item["mig-devices"] ?? {};
            if (Object.keys(devices).length === 0) continue; // all-enabled: MIG on, no instances
            const filter = item["device-filter"];
            if (filter !== undefined) {
                const ids: string[] = (Array.isArray(filter) ? filter : [filter]).map((id: string) => id.toUpperCase().replace(/^0X/, "0x"));
                for (const id of ids) if (PCI_ID[id]) entries.push({ section: name, gpu: PCI_ID[id], filtered: true, devices });
            } else {
                for (const gpu of MIG_GPUS) if (HEADER_NAMES[gpu].test(header)) entries.push({ section: name, gpu, filtered: false, devices });
            }
        }
    }
    return { entries, sections };
}

/** NVIDIA's profile naming: `Ng.Mgb[+me]` with M = round(memory slices × GPU memory / 8). */
function parseProfile(name: string): { compute: number; memGb: number; me: boolean } {
    const m = /^(\d+)g\.(\d+)gb(\+me)?$/.exec(name);
    assert.ok(m, `unexpected profile name ${name}`);
    return { compute: Number(m[1]), memGb: Number(m[2]), me: m[3] !== undefined };
}
const VALID_SHAPES = new Set(["1/1", "1/2", "2/2", "3/4", "4/4", "7/8"]); // compute/memory slices on A100/H100/H200
function nvidiaNameFits(gpu: GpuModel, name: string): boolean {
    const m = /^(\d+)g\.(\d+)gb(\+me)?$/.exec(name);
    if (!m) return false;
    const compute = Number(m[1]);
    const memGb = Number(m[2]);
    const slices = Math.round(memGb / (gpuMemoryGiB(gpu) / 8));
    if (!VALID_SHAPES.has(`${compute}/${slices}`)) return false;
    if (m[3] && slices !== 1) return false; // media extension only on the 1-slice 1g profile
    return Math.round((slices * gpuMemoryGiB(gpu)) / 8) === memGb;
}

describe("gpu catalogue: instance types", () => {
    it("maps the P instance types to 8 MIG-capable GPUs", () => {
        assert.deepStrictEqual(instanceGpu("p4d.24xlarge"), { gpu: "A100-40GB", count: 8, memoryGiB: 40, migCapable: true });
        assert.deepStrictEqual(instanceGpu("p4de.24xlarge"), { gpu: "A100-80GB", count: 8, memoryGiB: 80, migCapable: true });
        assert.deepStrictEqual(instanceGpu("p5.48xlarge"), { gpu: "H100-80GB", count: 8, memoryGiB: 80, migCapable: true });
        assert.deepStrictEqual(instanceGpu("p5e.48xlarge"), { gpu: "H200-141GB", count: 8, memoryGiB: 141, migCapable: true });
        assert.deepStrictEqual(instanceGpu("p5en.48xlarge"), { gpu: "H200-141GB", count: 8, memoryGiB: 141, migCapable: true });
    });

    it("maps every g5/g6/g6e size to the right GPU count, without MIG", () => {
        const counts: Record<string, number> = {
            xlarge: 1,
            "2xlarge": 1,
            "4xlarge": 1,
            "8xlarge": 1,
            "16xlarge": 1,
            "12xlarge": 4,
            "24xlarge": 4,
            "48xlarge": 8,
        };
        const families: Array<[string, GpuModel, number]> = [
            ["g5", "A10G", 24],
            ["g6", "L4", 24],
            ["g6e", "L40S", 48],
        ];
        for (const [family, gpu, mem] of families) {
            for (const [size, count] of Object.entries(counts)) {
                assert.deepStrictEqual(instanceGpu(`${family}.${size}`), { gpu, count, memoryGiB: mem, migCapable: false }, `${family}.${size}`);
            }
        }
    });

    it("knows no other sizes and returns undefined for unknown types", () => {
        assert.strictEqual(instanceGpu("m5.large"), undefined);
        assert.strictEqual(instanceGpu("p4d.12xlarge"), undefined);
        assert.strictEqual(instanceGpu("g5.3xlarge"), undefined);
        assert.strictEqual(instanceGpu("P5.48XLARGE"), undefined);
        assert.strictEqual(knownInstanceTypes().length, 6 + 3 * 8);
    });
});

describe("gpu catalogue: MIG profiles against NVIDIA's default mig-parted config", () => {
    let entries: RefEntry[] = [];
    let sections: ReturnType<typeof loadReference>["sections"] = [];
    before(function () {
        needsReference(this, MIG_PARTED_CONFIG);
        ({ entries, sections } = loadReference());
    });

    it("finds entries for each MIG GPU in the reference (the mapping itself is not empty)", () => {
        for (const gpu of MIG_GPUS) {
            assert.ok(entries.filter((e) => e.gpu === gpu).length >= 7, `${gpu}: ${entries.filter((e) => e.gpu === gpu).length} entries`);
        }
        // the filtered entries the EC2 parts match (spot check of the PCI-ID route)
        assert.deepStrictEqual(
            entries.filter((e) => e.filtered && e.section === "all-1g.10gb").map((e) => [e.gpu, e.devices["1g.10gb"]]),
            [
                ["H100-80GB", 7],
                ["A100-80GB", 7],
                ["A100-40GB", 4],
            ],
        );
        assert.deepStrictEqual(
            entries.filter((e) => e.filtered && e.section === "all-1g.35gb").map((e) => [e.gpu, e.devices]),
            [["H200-141GB", { "1g.35gb": 4 }]],
        );
    });

    it("header comments agree with NVIDIA's naming: an unfiltered section is ours exactly when its name fits the GPU", () => {
        for (const s of sections.filter((x) => !x.filtered)) {
            for (const devices of s.devices) {
                for (const profile of Object.keys(devices)) {
                    for (const gpu of MIG_GPUS) {
                        const byHeader = HEADER_NAMES[gpu].test(s.header);
                        assert.strictEqual(
                            byHeader,
                            nvidiaNameFits(gpu, profile),
                            `${s.name} (${profile}) under header "${s.header.trim()}": header says ${byHeader ? "" : "not "}${gpu}`,
                        );
                    }
                }
            }
        }
    });

    for (const gpu of MIG_GPUS) {
        describe(gpu, () => {
            // Read when the tests run (after the suite's `before` has loaded the reference).
            const mine = () => entries.filter((e) => e.gpu === gpu);
            const single = () => mine().filter((e) => Object.keys(e.devices).length === 1);
            const catalogue = migProfiles(gpu);

            it("lists exactly the profiles the reference has single-profile configs for", () => {
                const refNames = [...new Set(single().map((e) => Object.keys(e.devices)[0]))].sort();
                assert.deepStrictEqual(Object.keys(catalogue).sort(), refNames);
            });

            it("has the reference's max count for every profile", () => {
                for (const e of single()) {
                    const [name, count] = Object.entries(e.devices)[0];
                    assert.strictEqual(catalogue[name]?.maxCount, count, `${e.section}: ${name}`);
                }
            });

            it("has NVIDIA's slice math for every profile: N compute, round(M / (mem/8)) memory, +me flag", () => {
                const perSlice = gpuMemoryGiB(gpu) / MIG_MEMORY_SLICES;
                for (const e of mine()) {
                    for (const name of Object.keys(e.devices)) {
                        const { compute, memGb, me } = parseProfile(name);
                        const p = catalogue[name];
                        assert.ok(p, `${e.section}: ${name} missing from catalogue`);
                        assert.strictEqual(p.name, name);
                        assert.strictEqual(p.computeSlices, compute, `${name} compute`);
                        assert.strictEqual(p.memorySlices, Math.round(memGb / perSlice), `${name} memory`);
                        assert.strictEqual(Math.round(p.memorySlices * perSlice), memGb, `${name}: name rounds the slice memory`);
                        assert.strictEqual(p.mediaExtension, me, `${name} +me`);
                        assert.ok(p.computeSlices <= MIG_COMPUTE_SLICES && p.memorySlices <= MIG_MEMORY_SLICES);
                    }
                }
            });

            it("accepts every layout the reference offers (incl. all-balanced)", () => {
                for (const e of mine()) assert.deepStrictEqual(layoutFits(gpu, e.devices), { ok: true }, `${e.section}`);
                assert.ok(mine().some((e) => e.section === "all-balanced" && Object.keys(e.devices).length === 3));
            });
        });
    }

    it("offers no MIG layout for A10G, L4 and L40S", () => {
        for (const gpu of NON_MIG_GPUS) {
            assert.deepStrictEqual(migProfiles(gpu), {});
            for (const e of entries) {
                assert.deepStrictEqual(layoutFits(gpu, e.devices), { ok: false, reason: `${gpu} does not support MIG` });
            }
        }
    });
});

describe("gpu catalogue: layoutFits", () => {
    it("accepts layouts that fill the GPU", () => {
        assert.deepStrictEqual(layoutFits("A100-40GB", { "4g.20gb": 1, "3g.20gb": 1 }), { ok: true });
        assert.deepStrictEqual(layoutFits("H100-80GB", { "3g.40gb": 1, "2g.20gb": 2 }), { ok: true });
        assert.deepStrictEqual(layoutFits("H100-80GB", { "1g.10gb": 7 }), { ok: true });
        assert.deepStrictEqual(layoutFits("H200-141GB", { "1g.18gb+me": 1, "1g.18gb": 2, "2g.35gb": 2 }), { ok: true });
        assert.deepStrictEqual(layoutFits("A100-80GB", { "1g.20gb": 4 }), { ok: true });
    });

    const no: Array<[GpuModel, Record<string, number>, string]> = [
        ["A100-40GB", { "4g.20gb": 1, "3g.20gb": 1, "1g.5gb": 1 }, "4g.20gb + 3g.20gb + 1g.5gb needs 8 compute slices, the GPU has 7"],
        ["H100-80GB", { "3g.40gb": 2, "1g.10gb": 1 }, "2 × 3g.40gb + 1g.10gb needs 9 memory slices, the GPU has 8"],
        ["A100-80GB", { "1g.20gb": 3, "2g.20gb": 1, "1g.10gb": 1 }, "3 × 1g.20gb + 2g.20gb + 1g.10gb needs 9 memory slices, the GPU has 8"],
        ["A100-80GB", { "2g.20gb": 4 }, "4 × 2g.20gb exceeds the maximum of 3 per A100-80GB"],
        ["H200-141GB", { "1g.35gb": 5 }, "5 × 1g.35gb exceeds the maximum of 4 per H200-141GB"],
        ["H100-80GB", { "1g.10gb+me": 2 }, "2 × 1g.10gb+me has 2 +me instances, a GPU allows at most one"],
        ["A100-80GB", { "1g.5gb": 1 }, 'unknown MIG profile "1g.5gb" for A100-80GB (known: 1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb)'],
        ["H100-80GB", { "3g.40gb": 0 }, "3g.40gb: count 0 must be a positive integer"],
        ["H100-80GB", { "3g.40gb": 1.5 }, "3g.40gb: count 1.5 must be a positive integer"],
        ["H100-80GB", {}, "the MIG layout is empty"],
        ["L40S", { "1g.10gb": 1 }, "L40S does not support MIG"],
        ["A10G", { "1g.5gb": 1 }, "A10G does not support MIG"],
    ];
    for (const [gpu, layout, reason] of no) {
        it(`rejects ${JSON.stringify(layout)} on ${gpu}: ${reason}`, () => {
            assert.deepStrictEqual(layoutFits(gpu, layout), { ok: false, reason });
        });
    }

    it("places instances only at NVIDIA's start offsets and never overlapping", () => {
        const p = findPlacement("H100-80GB", { "3g.40gb": 1, "2g.20gb": 2 });
        assert.deepStrictEqual(p, { "3g.40gb": [4], "2g.20gb": [0, 2] });
        assert.deepStrictEqual(migPlacements("A100-40GB", "1g.5gb"), [0, 1, 2, 3, 4, 5, 6]);
        assert.deepStrictEqual(migPlacements("A100-40GB", "1g.10gb"), [0, 2, 4, 6]);
        assert.deepStrictEqual(migPlacements("A100-40GB", "2g.10gb"), [0, 2, 4]);
        assert.deepStrictEqual(migPlacements("A100-40GB", "3g.20gb"), [0, 4]);
        assert.deepStrictEqual(migPlacements("A100-40GB", "4g.20gb"), [0]);
        assert.deepStrictEqual(migPlacements("A100-40GB", "7g.40gb"), [0]);
        assert.deepStrictEqual(migPlacements("A100-40GB", "nope"), []);
        assert.strictEqual(findPlacement("H100-80GB", { "3g.40gb": 3 }), undefined);
    });

    it("exhaustively: on A100/H100/H200 the count rules and the placement search agree on every layout", () => {
        let checked = 0;
        let fitting = 0;
        for (const gpu of MIG_GPUS) {
            const profiles = Object.values(migProfiles(gpu));
            const walk = (i: number, layout: Record<string, number>) => {
                if (i === profiles.length) {
                    if (Object.keys(layout).length === 0) return;
                    checked++;
                    const compute = Object.entries(layout).reduce((n, [k, c]) => n + migProfiles(gpu)[k].computeSlices * c, 0);
                    const memory = Object.entries(layout).reduce((n, [k, c]) => n + migProfiles(gpu)[k].memorySlices * c, 0);
                    const counts = compute <= 7 && memory <= 8;
                    const placement = findPlacement(gpu, layout);
                    assert.strictEqual(placement !== undefined, counts, `${gpu} ${JSON.stringify(layout)}`);
                    if (placement) {
                        fitting++;
                        const used = new Array(8).fill(0);
                        for (const [name, starts] of Object.entries(placement)) {
                            assert.strictEqual(starts.length, layout[name]);
                            for (const s of starts) {
                                assert.ok(migPlacements(gpu, name).includes(s));
                                for (let k = s; k < s + migProfiles(gpu)[name].memorySlices; k++) used[k]++;
                            }
                        }
                        assert.ok(
                            used.every((u) => u <= 1),
                            `${gpu} ${JSON.stringify(placement)} overlaps`,
                        );
                        assert.deepStrictEqual(layoutFits(gpu, layout), { ok: true });
                    }
                    return;
                }
                const p = profiles[i];
                for (let c = 0; c <= p.maxCount; c++) {
                    const next = { ...layout };
                    if (c > 0) next[p.name] = c;
                    walk(i + 1, next);
                }
            };
            walk(0, {});
        }
        assert.ok(checked > 1000 && fitting > 100, `checked ${checked}, fitting ${fitting}`);
    });
});
