import path from 'node:path';
import fs from 'node:fs';
import type { Command } from 'commander';
import { buildUserCorpus } from '../../engine/folder-corpus';
import { DownloadError, isUrl } from '../../lib/datasets/download';
import { ChecksumMismatchError, fetchDatasets } from '../../lib/datasets/fetch';
import { PUBLIC_SOURCES, SUBSETS, type SubsetId } from '../../lib/datasets/layout';
import { shellWord } from '../../lib/datasets/require';
import { SourceError } from '../../lib/datasets/source-tree';
import { datasetsDir } from '../../lib/paths';
import { barsProgress, linesProgress } from '../progress-view';
import { UsageError } from '../../lib/errors';
import { EXIT } from '../exit';
import { collect } from '../run-options';

interface FetchFlags {
  dest?: string;
  only?: string;
  from?: string[];
  name?: string;
}

interface FetchPlan {
  dest: string;
  subsets: SubsetId[];
  sources: Partial<Record<SubsetId, string>>;
  folders: string[];
}

/** The flags as a plan; a flag that cannot be used is a UsageError naming it. */
export function planFetch(flags: FetchFlags): FetchPlan {
  const sources: Partial<Record<SubsetId, string>> = {};
  const folders: string[] = [];
  for (const value of flags.from ?? []) {
    const named = /^([a-z]+)=(.+)$/.exec(value);
    if (named && !fs.existsSync(value)) {
      const id = named[1] as SubsetId;
      if (!SUBSETS.includes(id))
        throw new UsageError(`--from ${value}: '${id}' is no subset; use ${SUBSETS.join(' or ')}`);
      const location = isUrl(named[2]) ? named[2] : path.resolve(named[2]);
      if (!isUrl(location) && !fs.existsSync(location))
        throw new UsageError(`--from ${value}: ${named[2]} does not exist`);
      sources[id] = location;
    } else if (isUrl(value)) {
      throw new UsageError(`--from ${value}: say which subset it is, e.g. --from tiny=${value}`);
    } else if (!fs.existsSync(value) || !fs.statSync(value).isDirectory()) {
      throw new UsageError(
        `--from ${value}: not a folder; give an image folder or webdataset folder, or tiny=FILE / photos=FILE for an archive`,
      );
    } else {
      folders.push(path.resolve(value));
    }
  }
  if (flags.name !== undefined && folders.length !== 1)
    throw new UsageError('--name names the corpus of one --from folder; give exactly one');
  let subsets: SubsetId[] = folders.length > 0 ? [] : [...SUBSETS];
  if (flags.only !== undefined) {
    const asked = flags.only.split(',').map((s) => s.trim());
    const unknown = asked.filter((s) => !SUBSETS.includes(s as SubsetId));
    if (unknown.length > 0 || asked.length === 0)
      throw new UsageError(`--only ${flags.only}: choose from ${SUBSETS.join(', ')} (comma-separated)`);
    subsets = SUBSETS.filter((s) => asked.includes(s));
  }
  return { dest: path.resolve(flags.dest ?? datasetsDir()), subsets, sources, folders };
}

async function dataFetch(flags: FetchFlags, out: (line: string) => void): Promise<number> {
  const plan = planFetch(flags);
  const progress = process.stderr.isTTY ? barsProgress(out) : linesProgress(out);
  try {
    if (plan.subsets.length > 0) {
      const result = await fetchDatasets({ dest: plan.dest, only: plan.subsets, sources: plan.sources, progress });
      out(
        `datasets ready in ${result.dest}: ${result.kept.length + result.written.length} files, sha256 verified ` +
          `(${result.written.length} written, ${result.kept.length} already there)`,
      );
      if (result.written.length > 0)
        out('ImageNet terms apply: use these images for non-commercial research and education only.');
      if (result.dest !== datasetsDir()) out(`use them: export IE_DATASETS_DIR=${shellWord(result.dest)}`);
    }
    for (const folder of plan.folders) {
      const name = flags.name ?? path.basename(folder);
      const corpus = await buildUserCorpus(folder, path.join(plan.dest, 'corpora', name));
      const skipped = corpus.skipped > 0 ? ` (${corpus.skipped} skipped: no caption or no image)` : '';
      out(`corpus '${name}' (${corpus.kind}): ${corpus.images} images${skipped} → ${corpus.manifestPath}`);
      out(`  serve it:   ie web serve --corpus ${shellWord(corpus.manifestPath)} --port 8601`);
      out('  runs use it through the engine address: IE_ENGINE_URL=http://127.0.0.1:8601 ie demo …,');
      out(
        `  or ie run … --set search.baseUrl=http://127.0.0.1:8601; ie benchmark … --manifest ${shellWord(corpus.manifestPath)}`,
      );
    }
  } catch (err) {
    if (err instanceof ChecksumMismatchError || err instanceof DownloadError || err instanceof SourceError) {
      process.stderr.write(`error: ${err.message}\n`);
      return EXIT.failed;
    }
    throw err;
  }
  return EXIT.ok;
}

export function registerDataCommands(program: Command): void {
  const data = program
    .command('data')
    .description('the offline datasets the local web and the targets are made of (IE_DATASETS_DIR)');
  data
    .command('fetch')
    .description(
      'download the public sources of the offline datasets and build them, every file checked against its published sha256; or turn an image folder / webdataset into a corpus',
    )
    .option('--dest <dir>', `datasets folder to fill (default: IE_DATASETS_DIR, else ../shared/datasets)`)
    .option('--only <subsets>', `build only these: ${SUBSETS.join(', ')} (comma-separated)`)
    .option(
      '--from <source>',
      'tiny=URL|ARCHIVE|DIR or photos=…: another address of that source; a DIR alone: an image folder or webdataset to turn into a corpus (repeatable)',
      collect,
    )
    .option('--name <name>', "name of the corpus built from a --from folder (default: the folder's name)")
    .addHelpText(
      'after',
      `
Sources (each also settable with its environment variable):
${SUBSETS.map((s) => `  ${s.padEnd(7)} ${PUBLIC_SOURCES[s].title}: github.com/${PUBLIC_SOURCES[s].repo} @ ${PUBLIC_SOURCES[s].commit.slice(0, 12)} (${PUBLIC_SOURCES[s].env})`).join('\n')}
  Glosses in classes.jsonl come from WordNet 3.0 (Debian wordnet-base, WORDNET_DIR).

Files already there with the right sha256 are kept; the rest are built in <dest>/.ie-data-fetch and moved
into place only when every checksum matches. An image folder (one subfolder per class, or flat) or a
webdataset folder (.tar shards) becomes <dest>/corpora/<name>/manifest.jsonl for ie web serve --corpus.
ImageNet terms: non-commercial research and education use only.`,
    )
    .action(async (flags: FetchFlags) => {
      process.exitCode = await dataFetch(flags, (line) => process.stdout.write(`${line}\n`));
    });
}
