// Which bank store a `patchline bank` or `teach` command works on: a folder (--store), or a
// recipe of a config file (--config [--recipe]), named as the service names it; and what the
// commands that embed images (teach, bank add) share: the images, the backbone, the runtime.
import { loadConfig } from '../../../config/load.js';
import type { Config } from '../../../config/schema.js';
import { cliActor } from '../../../recipes/audit-log.js';
import { trainingImages } from '../../../io/dataset.js';
import { InferenceRuntime } from '../../../model/inference-runtime.js';
import { backboneFrom, type BackboneFor } from '../../../recipes/bank-operations.js';
import { BankStore } from '../../../recipes/bank-store.js';
import { optionalString, UsageError, type CommandSpec, type OptionDoc, type ParsedOptions } from '../../args.js';

export const STORE_OPTIONS: Record<string, OptionDoc> = {
  store: { type: 'string', value: 'DIR', help: 'bank store folder' },
  name: { type: 'string', value: 'NAME', help: 'with --store: the recipe name in version ids NAME@vN (default: the folder name)' },
  config: { type: 'string', value: 'FILE', help: "instead of --store: the service's config file ..." },
  recipe: { type: 'string', value: 'NAME', help: '... and a recipe in it (default: model.recipe)' },
};

export function storeFromOptions(
  cmd: CommandSpec,
  v: ParsedOptions,
  opts: { create?: boolean } = {},
): { store: BankStore; config?: Config } {
  const dir = optionalString(v, 'store');
  const configFile = optionalString(v, 'config');
  if (dir && configFile) throw new UsageError(`patchline ${cmd.name}: give --store or --config, not both`);
  try {
    if (dir) return { store: BankStore.open(dir, { create: opts.create, name: optionalString(v, 'name') }) };
    if (!configFile) throw new UsageError(`patchline ${cmd.name}: --store DIR or --config FILE [--recipe NAME] is required`);
    const config = loadConfig(configFile);
    const name = optionalString(v, 'recipe') ?? config.model.recipe;
    if (!name) throw new UsageError(`patchline ${cmd.name}: --recipe is required (${configFile} sets no model.recipe)`);
    const recipe = config.recipes[name];
    if (!recipe)
      throw new UsageError(
        `patchline ${cmd.name}: --recipe: ${configFile} has no recipe '${name}' (recipes: ${Object.keys(config.recipes).join(', ') || 'none'})`,
      );
    return { store: BankStore.open(recipe.store, { name, keep: recipe.keep, create: opts.create }), config };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`patchline ${cmd.name}: ${(e as Error).message}`);
  }
}

/** Who the audit log names for a change (the service passes the page user's token name). */
export const ACTOR_OPTION: OptionDoc = { type: 'string', value: 'NAME', help: 'who to name in the audit log (default: cli:<user>)' };

export function actorOf(v: ParsedOptions): string {
  return optionalString(v, 'actor') ?? cliActor();
}

/** `--version 3` or `--version v3`. */
export function versionOption(cmd: CommandSpec, v: ParsedOptions, name = 'version'): number | undefined {
  const raw = optionalString(v, name);
  if (raw === undefined) return undefined;
  const m = /^v?(\d+)$/.exec(raw);
  if (!m || Number(m[1]) < 1) throw new UsageError(`patchline ${cmd.name}: --${name} must be a version number like 3 or v3, got '${raw}'`);
  return Number(m[1]);
}

/** The good images of a folder (or an MVTec category's train/good), as a usage error when none. */
export function imagesIn(cmd: CommandSpec, folder: string): string[] {
  try {
    return trainingImages(folder);
  } catch (e) {
    throw new UsageError(`patchline ${cmd.name}: --images: ${(e as Error).message}`);
  }
}

/** The bank's backbone from --backbone/--model-dir, else the config's model section. */
export function backboneOptions(v: ParsedOptions, config?: Config): BackboneFor {
  return backboneFrom({
    backbone: optionalString(v, 'backbone') ?? config?.model.backbone,
    modelDir: optionalString(v, 'model-dir') ?? config?.model.modelDir,
  });
}

export function runtimeFor(config?: Config): InferenceRuntime {
  return new InferenceRuntime(config?.model.threads ? { intraOpThreads: config.model.threads } : {});
}
