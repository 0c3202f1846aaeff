/**
 * Link checking for the repository's markdown (tests/docs/links.spec.ts): relative links must name a file of the
 * repository and `#anchors` a heading of the target, with GitHub's heading slugs; `runbookUrlIssue` applies the same
 * rule to the `runbook_url` an alert carries (a repository URL or path of `docs/….md#anchor`).
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** GitHub's anchor for a heading (github-slugger): the rendered text, lower-cased, punctuation dropped, spaces → `-`. */
export function githubSlug(heading: string): string {
    const text = heading
        .replace(/<[^>]+>/g, "") // inline HTML
        .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links and images: their text
        .replace(/[`*]/g, ""); // code spans and emphasis markers
    return text
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
        .replace(/ /g, "-");
}

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(markdown: string): Array<{ text: string; line: number }> {
    const out: Array<{ text: string; line: number }> = [];
    let fence: string | undefined;
    markdown.split("\n").forEach((text, i) => {
        const m = /^\s*(`{3,}|~{3,})/.exec(text);
        if (m) {
            if (fence === undefined) fence = m[1][0];
            else if (m[1][0] === fence) fence = undefined;
            return;
        }
        if (fence === undefined) out.push({ text, line: i + 1 });
    });
    return out;
}

/** Every anchor a markdown file offers: its headings' slugs (repeats get `-1`, `-2`, …) and explicit `<a id|name>`. */
export function anchorsOf(markdown: string): Set<string> {
    const anchors = new Set<string>();
    const seen = new Map<string, number>();
    for (const { text } of proseLines(markdown)) {
        const h = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
        if (h) {
            const slug = githubSlug(h[1]);
            const n = seen.get(slug) ?? 0;
            seen.set(slug, n + 1);
            anchors.add(n === 0 ? slug : `${slug}-${n}`);
        }
        for (const a of text.matchAll(/<a\s[^>]*\b(?:id|name)="([^"]+)"/g)) anchors.add(a[1]);
    }
    return anchors;
}

export interface MarkdownLink {
    target: string;
    line: number;
}

/** Link targets of a markdown file (inline links and images, reference definitions, HTML href/src), code excluded. */
export function markdownLinks(markdown: string): MarkdownLink[] {
    const links: MarkdownLink[] = [];
    for (const { text, line } of proseLines(markdown)) {
        const prose = text.replace(/(`+)[^`]*?\1/g, ""); // inline code spans
        for (const m of prose.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: m[1], line });
        const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(prose);
        if (def) links.push({ target: def[1], line });
        for (const m of prose.matchAll(/<(?:a|img)\s[^>]*\b(?:href|src)="([^"]+)"/g)) links.push({ target: m[1], line });
    }
    return links;
}

const anchorCache = new Map<string, Set<string>>();
function anchorsOfFile(file: string): Set<string> {
    let anchors = anchorCache.get(file);
    if (!anchors) {
        anchors = anchorsOf(fs.readFileSync(file, "utf8"));
        anchorCache.set(file, anchors);
    }
    return anchors;
}

/**
 * Why a link from `fromFile` to `target` does not resolve inside the repository at `root`, or undefined when it does.
 * External links (`https:`, `mailto:`, …) are not checked. An anchor on a markdown file must be one of its heading
 * anchors; on another file only GitHub's line anchors (`#L10`, `#L10-L20`) are accepted.
 */
export function linkIssue(fromFile: string, target: string, root: string): string | undefined {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) return undefined;
    const hash = target.indexOf("#");
    const filePart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
    const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const resolved = filePart === "" ? fromFile : filePart.startsWith("/") ? path.join(root, filePart) : path.resolve(path.dirname(fromFile), filePart);
    const rel = path.relative(root, resolved);
    if (rel.startsWith("..") || path.isAbsolute(rel)) return `${target}: points outside the repository`;
    if (!fs.existsSync(resolved)) return `${target}: ${rel.split(path.sep).join("/")} does not exist`;
    if (anchor === undefined) return undefined;
    if (fs.statSync(resolved).isDirectory()) return `${target}: an anchor on a directory`;
    if (!/\.md$/i.test(resolved)) return /^L\d+(-L\d+)?$/.test(anchor) ? undefined : `${target}: #${anchor} is not a line anchor of a non-markdown file`;
    if (!anchorsOfFile(resolved).has(anchor)) return `${target}: ${rel.split(path.sep).join("/")} has no heading #${anchor}`;
    return undefined;
}

/**
 * Why an alert's `runbook_url` does not name a section of the repository's docs, or undefined when it does. It must
 * end in `docs/<page>.md#<anchor>`, either as a repository path or as a GitHub URL of the repository's files
 * (`https://github.com/<owner>/<repo>/blob/<ref>/docs/runbook.md#abort-and-roll-back`); the page and heading must exist.
 */
export function runbookUrlIssue(url: string, root: string): string | undefined {
    const m = /(?:^|\/)(docs\/[^#?]+\.md)#(.+)$/.exec(url);
    if (!m) return `${url}: not a link to a section of docs/*.md`;
    if (/^[a-z]+:/i.test(url) && !/^https:\/\/github\.com\/[^/]+\/[^/]+\/blob\/[^/]+\/docs\//.test(url))
        return `${url}: not a GitHub URL of this repository's docs`;
    return linkIssue(path.join(root, "README.md"), `${m[1]}#${m[2]}`, root);
}

/** Every `runbook_url` (or `runbookUrl`) value anywhere in a value, e.g. a rendered PrometheusRule's alert annotations. */
export function runbookUrlsIn(value: unknown): string[] {
    const out: string[] = [];
    const walk = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v !== null && typeof v === "object") {
            for (const [k, child] of Object.entries(v)) {
                if ((k === "runbook_url" || k === "runbookUrl") && typeof child === "string") out.push(child);
                else walk(child);
            }
        }
    };
    walk(value);
    return out;
}

/** The repository's markdown files, tracked or not yet added, but never git-ignored ones (node_modules, venvs, out/). */
export function markdownFiles(root: string): string[] {
    const out = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "*.md"], { cwd: root, encoding: "utf8" });
    return [...new Set(out.split("\0").filter((f) => f !== "" && fs.existsSync(path.join(root, f))))].sort();
}
