"""A small licence registry for the models that write tane data.

``lookup(model_id)`` maps a model id as a backend reports it (Hugging Face ids, Ollama tags,
GGUF names, the embedded models' ids) to the licence of that model's weights, with the
obligations that matter for people who publish or train on generated data. Which licence a
model id has is read from the ordered table of model families in :mod:`.families` (shared
with the training configs' templates), so a family whose licence changed between versions
(Llama 3 -> 3.1, Mistral Small 2409 -> 3) gets the right one.

This is a summary written for tane to help people notice obligations; it is not legal advice
and not a substitute for reading the licence. Entries marked ``certain=False`` say so in the
dataset card.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .families import family


@dataclass(frozen=True)
class Licence:
    id: str                      # tane's id for the licence
    name: str
    hf_id: str                   # the Hugging Face card ``license:`` value
    url: str = ""
    commercial: bool | None = True   # commercial use allowed (None: unknown)
    notice_required: bool = False    # ship a NOTICE / attribution file with redistributions
    notice: str = ""                 # the text that file should carry
    naming_prefix: str = ""          # derivative models' names must start with this
    obligations: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()  # situations in which these terms clash with others
    certain: bool = True
    note: str = ""


_LLAMA_COMMON = (
    "Comply with the Llama Acceptable Use Policy; the use restrictions apply to the data "
    "and to models trained on it.",
    "Licensees whose products had more than 700 million monthly active users on the "
    "model's release date need a separate licence from Meta.",
    "Redistribute with a copy of the licence agreement.",
)

APACHE = Licence(
    "apache-2.0", "Apache License 2.0", "apache-2.0",
    "https://www.apache.org/licenses/LICENSE-2.0",
    obligations=("Keep the licence and copyright notices when redistributing the weights; "
                 "the generated text carries no further obligations from the model.",))

LICENCES: dict[str, Licence] = {lic.id: lic for lic in [
    APACHE,
    Licence(
        "llama3", "Meta Llama 3 Community License", "llama3",
        "https://www.llama.com/llama3/license/",
        notice_required=True,
        notice="Meta Llama 3 is licensed under the Meta Llama 3 Community License, "
               "Copyright © Meta Platforms, Inc. All Rights Reserved.",
        naming_prefix="Llama 3",
        obligations=("Display \"Built with Meta Llama 3\" on a related website, user "
                     "interface, blog post, about page or product documentation.",
                     "Names of models trained on the data must begin with \"Llama 3\".",
                     "Outputs may not be used to improve any large language model other "
                     "than Meta Llama 3 and its derivatives.",
                     *_LLAMA_COMMON),
        conflicts=("Llama 3 (3.0) outputs may not be used to improve any other large "
                   "language model than Llama 3 and its derivatives.",)),
    *[Licence(
        f"llama{v}", f"Llama {v} Community License", f"llama{v}",
        f"https://www.llama.com/llama{v.replace('.', '_')}/license/",
        notice_required=True,
        notice=f"Llama {v} is licensed under the Llama {v} Community License, "
               "Copyright © Meta Platforms, Inc. All Rights Reserved.",
        naming_prefix="Llama",
        obligations=("Display \"Built with Llama\" on a related website, user interface, "
                     "blog post, about page or product documentation.",
                     "Names of AI models trained on the data must begin with \"Llama\".",
                     *_LLAMA_COMMON)
                    + (("The multimodal (vision) models' licence grants no rights to "
                        "individuals or companies domiciled in the EU.",) if v == "3.2" else ()))
      for v in ("3.1", "3.2", "3.3")],
    Licence(
        "gemma", "Gemma Terms of Use", "gemma", "https://ai.google.dev/gemma/terms",
        notice_required=True,
        notice="Gemma is provided under and subject to the Gemma Terms of Use found at "
               "ai.google.dev/gemma/terms",
        obligations=("The Gemma Prohibited Use Policy applies; its use restrictions must be "
                     "passed on, as an enforceable provision, to anyone you distribute "
                     "Gemma or Model Derivatives to.",
                     "A model trained on Gemma's synthetic outputs to perform like Gemma can "
                     "count as a Model Derivative under the terms.",
                     "Give recipients a copy of the Gemma Terms of Use and the notice text "
                     "(NOTICE file).",
                     "Mark modified files as modified."),
        conflicts=("Use restrictions flow down to derivatives: a permissive-only release "
                   "(e.g. plain Apache-2.0 with no extra terms) does not satisfy them.",)),
    Licence(
        "qwen", "Qwen License Agreement", "other",
        "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct/blob/main/LICENSE",
        notice_required=True,
        notice="Qwen is licensed under the Qwen LICENSE AGREEMENT, Copyright (c) Alibaba "
               "Cloud. All Rights Reserved.",
        obligations=("Commercial use by products with more than 100 million monthly "
                     "active users needs a licence from Alibaba Cloud.",
                     "Display \"Built with Qwen\" or \"Improved using Qwen\" in the "
                     "documentation of a model trained on the data.",
                     "Redistribute with a copy of the agreement."),
        certain=False,
        note="applies to Qwen2.5-72B (and some other large Qwen2/2.5 checkpoints); check "
             "the model's own LICENSE file"),
    Licence(
        "qwen-research", "Qwen Research License Agreement", "other",
        "https://huggingface.co/Qwen/Qwen2.5-3B-Instruct/blob/main/LICENSE",
        commercial=False, notice_required=True,
        notice="Qwen is licensed under the Qwen RESEARCH LICENSE AGREEMENT, Copyright (c) "
               "Alibaba Cloud. All Rights Reserved.",
        obligations=("Non-commercial research and evaluation use only.",
                     "Display \"Built with Qwen\" or \"Improved using Qwen\" in the "
                     "documentation of a model trained on the data.",
                     "Redistribute with a copy of the agreement."),
        conflicts=("Research-only: conflicts with any commercial use of the data or of "
                   "models trained on it.",),
        certain=False,
        note="applies to Qwen2.5-3B (and Qwen2.5-Coder-3B); check the model's own LICENSE"),
    Licence(
        "mrl", "Mistral AI Research License", "other",
        "https://mistral.ai/licenses/MRL-0.1.md",
        commercial=False,
        obligations=("Research and non-commercial use only; commercial use needs a "
                     "commercial licence from Mistral AI.",
                     "Redistribute with a copy of the licence."),
        conflicts=("Research-only: conflicts with any commercial use of the data or of "
                   "models trained on it.",)),
]}

LICENCES["llm-jp-3-172b"] = Licence(
    "llm-jp-3-172b", "LLM-jp-3 172B licence agreement / terms of use", "other",
    "https://huggingface.co/llm-jp/llm-jp-3-172b-instruct3/blob/main/LICENSE",
    obligations=("The 172B checkpoints are not under Apache-2.0: each ships with its own "
                 "agreement (llm-jp-3-172b-instruct3 License Agreement; LLM-jp-3 172B beta1 "
                 "利用規約) that must be accepted and passed on; read it before publishing "
                 "or training on the data.",),
    certain=False,
    note="llm-jp-3 1.8B, 3.7B and 13B (and LLM-jp-3.1) are Apache-2.0; the 172B models "
         "have their own terms")

UNKNOWN = Licence(
    "unknown", "unknown", "other", commercial=None,
    obligations=("The licence of this model is not in tane's registry: check its model card "
                 "before publishing or training on the data.",),
    certain=False)



@dataclass(frozen=True)
class Match:
    model: str
    licence: Licence
    pattern: str = ""           # the rule that matched ("" for declared or unknown)
    note: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def known(self) -> bool:
        return self.licence.id != "unknown"


def get(licence_id: str) -> Licence | None:
    return LICENCES.get((licence_id or "").strip().lower())


def lookup(model_id: str, declared: str = "") -> Match:
    """The licence of ``model_id``. ``declared`` is the licence the run recorded for it
    (recipe ``llm.license``); it is used when the registry does not know the model, and a
    disagreement with the registry is a warning."""
    fam = family(model_id)
    if fam is not None and fam.licence is not None:
        lic, note = LICENCES[fam.licence], fam.note
        warns = []
        d = get(declared)
        if declared and declared.lower() not in ("", "unknown") and d is not lic:
            warns.append(f"{model_id}: the run declared licence '{declared}' but tane's "
                         f"registry says '{lic.id}'")
        if not lic.certain:
            warns.append(f"{model_id}: licence '{lic.id}' is tane's best knowledge and "
                         f"uncertain ({note or lic.note}); check the model's LICENSE")
        return Match(model_id, lic, fam.pattern, note, tuple(warns))
    d = get(declared)
    if d is not None:
        return Match(model_id, d, "", "declared in the recipe (not in tane's registry)",
                     (f"{model_id}: not in tane's licence registry; using the declared "
                      f"licence '{d.id}'",))
    return Match(model_id, UNKNOWN, "", "",
                 (f"{model_id}: licence unknown (not in tane's registry"
                  + (f", declared '{declared}'" if declared else "") + "); check its model "
                  "card before publishing or training on this data",))


def combination_warnings(licences: list[Licence], commercial: bool = True) -> list[str]:
    """Warnings for licences whose terms clash with each other or with the intended use."""
    out: list[str] = []
    uniq = list({lic.id: lic for lic in licences}.values())
    for lic in uniq:
        if commercial and lic.commercial is False:
            out.append(f"conflict: {lic.name} is research/non-commercial only, but the "
                       "export is meant for commercial use (export with --no-commercial if it "
                       "is not)")
        if lic.id == "llama3":
            out.append("Meta Llama 3 (3.0) licence: the data may only be used to improve "
                       "Llama 3 models and their derivatives")
        if len(uniq) > 1:
            for c in lic.conflicts:
                if (lic.commercial is False and "commercial" in c.lower()) \
                        or lic.id == "llama3":
                    continue  # said above
                out.append(f"{lic.name}: {c}")
    prefixes = {lic.naming_prefix for lic in uniq if lic.naming_prefix}
    if len(prefixes) > 1:
        out.append("conflict: the licences demand different name prefixes for trained "
                   f"models ({', '.join(sorted(prefixes))})")
    restricted = [lic for lic in uniq if lic.commercial is False or lic.naming_prefix
                  or lic.id == "gemma"]
    if len(restricted) > 1:
        out.append("conflict: the data combines outputs of models under different "
                   "restrictive terms (" + ", ".join(lic.name for lic in restricted)
                   + "); all of their obligations apply together")
    return out
