"""A tiny random-weight Qwen3-VL with a locally trained tokenizer: the embedded default for tests and debug runs.

Same architecture and file layout as ``Qwen/Qwen3-VL-8B-Instruct`` (config, safetensors, ``Qwen2Tokenizer`` files,
chat template, image processor, generation config), so every code path that loads a real checkpoint loads this one
through the same ``from_pretrained`` calls — but it is ~1 MB, builds in about a second and needs no download.

    python tools/make_tiny_model.py --out models/tiny-qwen3-vl

Sizes: the smallest Qwen3-VL that still exercises every code path — text hidden 64, 2 layers, 4 heads / 2 KV heads, head_dim 16 (so the M-RoPE
sections sum to head_dim / 2 = 8); a 1-block vision tower whose output (and its one deepstack layer) has the text
width. Images use Qwen3-VL's real patching (16 px patches, 2×2 merge), with few pixels allowed so that a 256 px
image costs 16 tokens.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import GenerationConfig, Qwen2Tokenizer, Qwen2VLImageProcessorPil, Qwen3VLForConditionalGeneration
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX
from transformers.models.qwen3_vl.configuration_qwen3_vl import Qwen3VLConfig, Qwen3VLTextConfig

from src.data.prompts import critic_instruction
from src.data.schema import CATEGORIES, CATEGORY_KEY
from src.models.processor import ImageOnlyQwen3VLProcessor

# Qwen2/3's control tokens, in Qwen's order (ids 151643..151656 there; the last ids of our small vocab here).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Qwen3 adds these as ordinary (non-special) added tokens: decoding keeps them, so a parser sees <think> blocks.
THINK_TOKENS: tuple[str, ...] = ("<think>", "</think>")

TOKENIZER_VOCAB_SIZE = 3000  # BPE target; the embedded corpus saturates a little below it
PATCH_SIZE = 16  # Qwen3-VL's real patch size; with the 2x2 merge one image token covers 32x32 px
MERGE_SIZE = 2
MIN_PIXELS = 64 * 64  # = 4 image tokens; keeps thumbnails legal
MAX_PIXELS = 128 * 128  # = 64 patches = 16 image tokens per image at most: a 256 px image is downscaled to this

# Qwen3-VL's chat template, reduced to what the critic and the policy use: string or list content, image/video
# parts as vision placeholders that the processor expands, and the assistant generation prompt.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] }}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'video' or 'video' in part -%}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif part['type'] == 'text' -%}"
    "{{ part['text'] }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{%- endif -%}"
)

_CODE_SNIPPETS = (
    "import matplotlib.pyplot as plt\nimport numpy as np\n\nfig, ax = plt.subplots(figsize=(6, 4))\n"
    "ax.bar(['Q1', 'Q2', 'Q3', 'Q4'], [12.5, 17.3, 9.8, 21.0], color='#4C72B0')\n"
    "ax.set_title('Quarterly Revenue')\nax.set_xlabel('Quarter')\nax.set_ylabel('Revenue (M$)')\n"
    "ax.legend(loc='upper right')\nax.grid(True, linestyle='--', alpha=0.5)\nplt.tight_layout()\nplt.show()\n",
    "x = np.linspace(0, 10, 100)\nplt.plot(x, np.sin(x), label='sin', linewidth=2, marker='o')\n"
    "plt.scatter(x, np.cos(x), c='tab:orange', s=12)\nplt.pie([30, 45, 25], labels=['A', 'B', 'C'])\n"
    "plt.hist(data, bins=20)\nplt.imshow(matrix, cmap='viridis')\nplt.colorbar()\nplt.savefig('out.png')\n",
    "<table border='1'>\n<caption>Sales by Region</caption>\n<thead><tr><th>Region</th><th>Revenue</th>"
    "<th colspan='2'>Growth</th></tr></thead>\n<tbody><tr><td>North</td><td align='right'>1,204</td>"
    "<td rowspan='2'>4.5%</td></tr><tr><td><b>South</b></td><td><i>987</i></td></tr></tbody>\n</table>\n",
    "| Model | Params | Accuracy |\n|:--|--:|--:|\n| Base | 8B | 71.2 |\n| Large | 72B | 80.4 |\n",
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">\n'
    '<rect x="8" y="8" width="48" height="48" rx="6" fill="#ff9900" stroke="#333" stroke-width="2"/>\n'
    '<circle cx="32" cy="32" r="12" fill="none"/><path d="M16 48 L32 16 L48 48 Z"/>\n'
    '<g transform="rotate(45 32 32)"><polygon points="0,0 10,0 5,8"/></g>\n'
    '<text x="32" y="60" font-size="8" text-anchor="middle">Icon</text></svg>\n',
)
# Words a critic, a chart, a table or an icon uses; sentences sampled from them give the BPE a few thousand merges.
_WORD_LIST = """
the a an of in on at to from with without and or but not is are was were be been has have had this that these
those there which where when while what who each every all any some no more less most least than then also only
reference candidate image images chart charts table tables graphic icon diagram figure plot subplot subplots axis
axes title subtitle label labels legend tick ticks gridline gridlines grid annotation annotations arrow caption
header headers row rows column columns cell cells span spans merged border borders alignment aligned left right
center centre top bottom upper lower middle inner outer corner edge background foreground colour color colours
colors red green blue orange purple yellow black white gray grey brown pink cyan magenta teal navy olive maroon
dark light pale bright shade shades gradient opacity transparent fill stroke width height size sizes font fonts
bold italic underline serif family weight style styles marker markers line lines dashed dotted solid thick thin
bar bars stacked grouped horizontal vertical scatter pie donut histogram box boxplot heatmap colorbar area error
errors value values data point points series sample samples mean median range scale logarithmic linear ratio
percent percentage count counts total sum average maximum minimum increase decrease higher lower larger smaller
wrong missing extra swapped shifted moved rotated flipped mirrored duplicated omitted replaced changed different
same identical equivalent similar visible invisible hidden overlapping overlap order ordering reversed sorted
shape shapes circle circles ellipse rectangle square triangle polygon path paths curve curves group groups layer
layers symbol symbols letter letters digit digits number numbers text texts word words unit units sign decimal
revenue profit sales growth market share year years month months quarter quarters week day region country city
temperature pressure accuracy precision recall loss score scores model models method methods baseline result
results experiment dataset training validation test epoch epochs step steps rate speed time memory cost price
population income expenses budget forecast actual target north south east west first second third fourth last
severity minor medium severe structure layout numeric description location category type typo misspelled
instead should reads shows displays contains appears drawn rendered renders placed positioned uses lacks adds
user assistant system json python html svg markdown code
"""
_LOCATIONS = (
    "title",
    "legend, upper right",
    "x-axis tick labels",
    "row 3, column 'Revenue'",
    "header row",
    "left icon",
)
_DESCRIPTIONS = (
    "The bar for Q3 is 40% higher than in the reference.",
    "The title reads 'Revenue' instead of 'Quarterly Revenue'.",
    "The legend is placed in the lower left instead of the upper right.",
    "The line color is red instead of blue.",
    "A row is missing between North and South.",
    "The circle is drawn as a square.",
    "No visible differences.",
)


def _tokenizer_corpus(seed: int, extra: Sequence[str] = ()) -> list[str]:
    """Prompts, critiques in the official JSON of every domain, and code: the text this model will see."""
    rng = random.Random(seed)
    corpus = [*(critic_instruction(d) for d in CATEGORIES), *_CODE_SNIPPETS, *extra]
    corpus.extend(f"<|im_start|>{role}\n" for role in ("system", "user", "assistant") for _ in range(3))
    for domain, cats in CATEGORIES.items():
        for n_errors in range(4):
            errors = [
                {
                    CATEGORY_KEY[domain]: f"{rng.choice(cats)}_error",
                    "severity": rng.randint(1, 3),
                    "location": rng.choice(_LOCATIONS),
                    "description": rng.choice(_DESCRIPTIONS),
                }
                for _ in range(n_errors)
            ]
            critique: dict[str, object] = {
                f"{c}_error_count": sum(e[CATEGORY_KEY[domain]] == f"{c}_error" for e in errors) for c in cats
            }
            critique["errors"] = errors
            corpus.append(json.dumps(critique, indent=2))
            corpus.append(f"```json\n{json.dumps(critique)}\n```")
    corpus.extend(" ".join(p) for p in itertools.permutations(("0.5", "12", "2024", "-3.7", "100%"), 3))
    words = _WORD_LIST.split()
    for _ in range(3000):
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(4, 14)))
        corpus.append(sentence.capitalize() + rng.choice((".", ",", ";", ":", "?")))
        corpus.append(f"ax.set_{rng.choice(words)}_{rng.choice(words)}('{rng.choice(words).title()}')")
    return corpus


def build_tiny_tokenizer(seed: int = 0, extra_corpus: Sequence[str] = ()) -> Qwen2Tokenizer:
    """A byte-level BPE trained on the embedded corpus with Qwen2's pre-tokenizer and Qwen's control tokens.

    ``extra_corpus``: texts of the task the model will train on (its code and critiques), so that they cost few
    tokens each — a model that must learn on a CPU pays for every token of every answer, in training and in rollouts.
    """
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB_SIZE,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_tokenizer_corpus(seed, extra_corpus), trainer)
    model_state = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = dict(model_state["vocab"])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model_state["merges"]]
    for token in (*SPECIAL_TOKENS, *THINK_TOKENS):
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        # transformers annotates merges as "a b" strings and unk_token as str; it accepts pairs and None, as here.
        merges=merges,  # type: ignore[arg-type]
        unk_token=None,  # type: ignore[arg-type]
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=32768,
        chat_template=CHAT_TEMPLATE,
        extra_special_tokens=list(SPECIAL_TOKENS[1:]),
    )
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TOKENS])
    return tokenizer


def _token_id(tokenizer: Qwen2Tokenizer, token: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(token_id, int):  # one token in, one id out; the annotation also covers the list form
        raise TypeError(f"expected one id for {token!r}, got {token_id!r}")
    return token_id


def build_tiny_processor(tokenizer: Qwen2Tokenizer, max_pixels: int = MAX_PIXELS) -> ImageOnlyQwen3VLProcessor:
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=PATCH_SIZE,
        temporal_patch_size=2,
        merge_size=MERGE_SIZE,
        min_pixels=MIN_PIXELS,
        max_pixels=max_pixels,
        image_mean=[0.5, 0.5, 0.5],  # Qwen3-VL's normalisation (not CLIP's)
        image_std=[0.5, 0.5, 0.5],
    )
    return ImageOnlyQwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


@dataclass(frozen=True)
class ModelSize:
    """The sizes of a locally built Qwen3-VL: the same architecture as the 8B at any scale.

    ``head_dim`` stays 16 or a multiple of 16 (the M-RoPE sections are head_dim/2 split 2:1:1); the vision tower's
    output has the text width, and its last block feeds the one deepstack layer.
    """

    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    head_dim: int = 16
    vision_depth: int = 1
    vision_hidden: int = 32
    vision_heads: int = 2
    max_pixels: int = MAX_PIXELS


# The default for tests and debug configs: every code path, at the smallest size that exercises it.
TINY = ModelSize()
# The miniature reproduction's model (``tools/main_job.py``): large enough that image -> code SFT on the plain-shape
# SVGs learns colours, shapes and positions, small enough to train in minutes on 2 CPU cores (README: its figures).
SMALL = ModelSize(
    text_hidden=256, text_layers=4, text_heads=8, text_kv_heads=4, head_dim=32, vision_depth=2, vision_hidden=128,
    vision_heads=4,
)  # fmt: skip
# SMALL's width at twice its depth: a critic must compare two readings token by token after reading them, a
# longer chain of attention steps than the base's image -> code (README: the miniature's figures).
SMALL_DEEP = replace(SMALL, text_layers=8)
MODEL_SIZES: dict[str, ModelSize] = {"tiny": TINY, "small": SMALL, "small_deep": SMALL_DEEP}


def tiny_qwen3_vl_config(tokenizer: Qwen2Tokenizer, size: ModelSize = TINY) -> Qwen3VLConfig:
    vocab_size = -(-len(tokenizer) // 64) * 64  # pad like real checkpoints do; every token id stays inside
    ids = {t: _token_id(tokenizer, t) for t in SPECIAL_TOKENS}
    text_config = {
        "vocab_size": vocab_size,
        "hidden_size": size.text_hidden,
        "intermediate_size": 2 * size.text_hidden,
        "num_hidden_layers": size.text_layers,
        "num_attention_heads": size.text_heads,
        "num_key_value_heads": size.text_kv_heads,
        "head_dim": size.head_dim,
        "max_position_embeddings": 4096,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5_000_000.0,
            "mrope_section": [size.head_dim // 4, size.head_dim // 8, size.head_dim // 8],  # t, h, w: head_dim / 2
            "mrope_interleaved": True,
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "dtype": "float32",
    }
    vision_config = {
        "depth": size.vision_depth,
        "hidden_size": size.vision_hidden,
        "intermediate_size": 2 * size.vision_hidden,
        "num_heads": size.vision_heads,
        "patch_size": PATCH_SIZE,
        "spatial_merge_size": MERGE_SIZE,
        "temporal_patch_size": 2,
        "out_hidden_size": size.text_hidden,
        "num_position_embeddings": 256,  # a 16x16 grid of learned positions, interpolated per image
        "deepstack_visual_indexes": [size.vision_depth - 1],
    }
    return Qwen3VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
        dtype="float32",
    )


def build_tiny_qwen3_vl(
    out_dir: str | Path, seed: int = 0, size: ModelSize = TINY, extra_corpus: Sequence[str] = ()
) -> Path:
    """Write a random Qwen3-VL (weights, config, tokenizer, chat template, processor) of ``size`` to ``out_dir``.

    ``extra_corpus`` joins the tokenizer's training text (see ``build_tiny_tokenizer``).

    Deterministic for a given ``seed``. Returns ``out_dir``. Load it back with ``load_vlm(VLMLoader(out_dir))`` or
    ``Qwen3VLForConditionalGeneration.from_pretrained(out_dir)`` + ``load_processor(out_dir)``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(seed, extra_corpus)
    processor = build_tiny_processor(tokenizer, size.max_pixels)
    config = tiny_qwen3_vl_config(tokenizer, size)
    with torch.random.fork_rng(devices=[]):  # do not disturb the caller's RNG stream
        torch.manual_seed(seed)
        model = Qwen3VLForConditionalGeneration(config)
    text_config = config.text_config
    if not isinstance(text_config, Qwen3VLTextConfig):  # Qwen3VLConfig builds it from the dict it was given
        raise TypeError(f"expected a Qwen3VLTextConfig, got {type(text_config).__name__}")
    # Marks weights nobody trained: the loader warns before freezing such a vision tower (``save_full_model`` clears it).
    model.config.random_init = True
    model.generation_config = GenerationConfig(
        bos_token_id=text_config.bos_token_id,
        eos_token_id=[tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
