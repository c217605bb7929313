"""Build the byte-level BPE fixtures for framework/tokenizer.

Trains two small byte-level BPE tokenizers with the Hugging Face `tokenizers`
library on a text generated below (no downloads), saves each tokenizer.json
and the library's encodings of a set of test strings.

  gpt2_style: ByteLevel pre-tokenizer with its built-in GPT-2 regex,
              merges written in the "a b" string form.
  gpt2_prefix_style: the same model with add_prefix_space=True.
  llama3_style: Split(Llama-3 regex, isolated) + ByteLevel(use_regex=False),
              BPE with ignore_merges, merges in the [a, b] list form,
              several added special tokens.
  llama3_template: llama3_style with Llama-3's post-processor (Sequence of
              ByteLevel and TemplateProcessing "<|begin_of_text|> $A") and
              added tokens with lstrip, rstrip, single_word and normalized
              set in several combinations; its cases hold the ids with and
              without add_special_tokens.
  gpt2_roberta: gpt2_style with a RobertaProcessing post-processor and an
              added <mask> token with lstrip (as RoBERTa has).

Usage: python make_fixtures.py OUTDIR
"""

import json
import os
import random
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

BASE = [
    "The quick brown fox jumps over the lazy dog. It's 2024; we'll see, they've gone, I'm here, you'd know.",
    "Le cœur a ses raisons que la raison ne connaît point. Ça va? Très bien, merci!",
    "Größe, Straße, Übermäßig. Ελληνικά γράμματα. Русский текст и числа 12345.",
    "日本語のテキストと漢字。中文文本，标点符号！한국어 문장입니다.",
    "emoji: 😀🎉👍🏽 family: 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵",
    "combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0360a\u0352l\u0353g\u0354o\u0355",
    "numbers 3.14159 1,000,000 0x1F 42nd 2023-11-28 12:30:45 ١٢٣ ४५६",
    "func main() {\n\tfmt.Println(\"hello, world\")\n\treturn x+y*z // comment\n}\n",
    "whitespace   runs\t\ttabs\n\n\nnewlines  \n  trailing   \r\n crlf\r\n",
    "SHOUTING IT'S DON'T WE'LL THEY'VE I'M YOU'D SHE'S",
]


def corpus():
    rng = random.Random(1234)
    words = " ".join(BASE).split()
    lines = list(BASE) * 20
    for _ in range(3000):
        n = rng.randint(3, 15)
        lines.append(" ".join(rng.choice(words) for _ in range(n)))
    return lines


TESTS = BASE + [
    "",
    " ",
    "   ",
    "\n",
    "a",
    "Hello<|endoftext|>world<|endoftext|>",
    "<|begin_of_text|>Hi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat's up?<|eot_id|>",
    "unseen: ∀x∈ℝ, x² ≥ 0 → ∑ 🦀 Ǆ ǅ ǆ ﬁ ﬂ",
    "  leading and trailing spaces  ",
    "x  \n  y\t\n\tz   ",
    "'s 'S 't 'T 're 'RE 've 'll 'LL 'd 'm 'x",
    "1234567890 12 123 1234 12345",
    "tab\tseparated\tvalues\nand\r\nwindows\rlines",
    "mixed中文English日本語123abc",
    "\u00a0non-breaking\u2003em space\u3000ideographic",
]


# Characters mixed at random to exercise the split patterns' edge cases.
POOL = list("aZé日ß'’sStTrReEvVlLmMdD019١½² \t\n\r.,!?-_=()\"#") + [
    "\u00a0", "\u3000", "\u2028", "\u0085", "\u0301", "😀", "👍🏽", "ﬁ", "ǅ", "\x0b", "\x0c",
]


def random_texts(n):
    rng = random.Random(99)
    out = []
    for _ in range(n):
        k = rng.randint(1, 40)
        out.append("".join(rng.choice(POOL) for _ in range(k)))
    return out


def train(pre, special, ignore_merges, vocab_size):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer)
    return tok


def dump(tok, out, name, merges_as_strings):
    path = os.path.join(out, name + ".tokenizer.json")
    tok.save(path)
    with open(path) as f:
        spec = json.load(f)
    merges = spec["model"]["merges"]
    if merges_as_strings:
        spec["model"]["merges"] = [m if isinstance(m, str) else " ".join(m) for m in merges]
    else:
        spec["model"]["merges"] = [m.split(" ") if isinstance(m, str) else m for m in merges]
    with open(path, "w") as f:
        json.dump(spec, f, ensure_ascii=False)
    # Reload the rewritten file so the encodings come from exactly what ships.
    tok = Tokenizer.from_file(path)
    texts = TESTS + corpus()[:300:7] + random_texts(600)
    cases = []
    for t in texts:
        enc = tok.encode(t, add_special_tokens=False)
        cases.append({"text": t, "ids": enc.ids, "decoded": tok.decode(enc.ids, skip_special_tokens=False)})
    with open(os.path.join(out, name + ".cases.json"), "w") as f:
        json.dump({"cases": cases}, f, ensure_ascii=False)


# Added tokens of llama3_template: (content, special, single_word, lstrip,
# rstrip, normalized). "ab" (normalized) and "bc" (not) overlap, which shows
# that the non-normalized tokens are extracted from the whole text first.
ADDED = [
    ("<mask>", True, False, True, False, False),
    ("[R]", False, False, False, True, False),
    ("<both>", False, False, True, True, True),
    ("xyz", False, True, False, False, True),
    ("<sw>", True, True, True, True, False),
    ("ab", False, False, False, False, True),
    ("bc", False, False, False, False, False),
    (" q", False, False, False, True, False),
]

# Pieces mixed at random to exercise the added tokens' options.
ADDED_POOL = [t[0] for t in ADDED] + [
    "<|begin_of_text|>", "<|eot_id|>", " ", " ", "  ", "\t", "\n", "\u2000", "\u00a0", "a", "b", "c",
    "x", "y", "z", "q", "é", "1", "_", ".", "-", "\u0301", "日", "Hello", " world",
]


def added_texts(n):
    rng = random.Random(7)
    out = []
    for _ in range(n):
        k = rng.randint(1, 16)
        out.append("".join(rng.choice(ADDED_POOL) for _ in range(k)))
    return out


ADDED_TESTS = [
    "a <mask> b",
    "a   <mask>b",
    "<mask>",
    "  <mask>  ",
    "x [R]   y",
    "[R]\t\n z",
    "p  <both>  q",
    "xyz xyzw wxyz xyz. (xyz) _xyz xyz_ 1xyz é\u0301xyz",
    "<sw> a<sw> <sw>b <sw>",
    "abc",
    "ab bc abc bca",
    "q q  q [R] q",
    "<|begin_of_text|>already there",
]


def dump_processed(tok, out, name, texts):
    """Writes NAME.tokenizer.json and NAME.cases.json with each text's ids
    without (ids) and with (ids_special) add_special_tokens."""
    path = os.path.join(out, name + ".tokenizer.json")
    tok.save(path)
    tok = Tokenizer.from_file(path)
    cases = []
    for t in texts:
        plain = tok.encode(t, add_special_tokens=False).ids
        special = tok.encode(t, add_special_tokens=True).ids
        cases.append({"text": t, "ids": plain, "ids_special": special})
    with open(os.path.join(out, name + ".cases.json"), "w") as f:
        json.dump({"cases": cases}, f, ensure_ascii=False)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    gpt2 = train(pre_tokenizers.ByteLevel(add_prefix_space=False), ["<|endoftext|>"], False, 1200)
    dump(gpt2, out, "gpt2_style", True)
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    dump(gpt2, out, "gpt2_prefix_style", True)
    llama = train(
        pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        ),
        ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        True,
        1200,
    )
    dump(llama, out, "llama3_style", False)

    texts = TESTS + ADDED_TESTS + corpus()[:300:7] + random_texts(200) + added_texts(600)
    llama = Tokenizer.from_file(os.path.join(out, "llama3_style.tokenizer.json"))
    for content, special, single_word, lstrip, rstrip, normalized in ADDED:
        t = AddedToken(content, single_word=single_word, lstrip=lstrip, rstrip=rstrip, normalized=normalized, special=special)
        if special:
            llama.add_special_tokens([t])
        else:
            llama.add_tokens([t])
    bos = "<|begin_of_text|>"
    llama.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{bos} $A",
                pair=f"{bos} $A {bos} $B:1",
                special_tokens=[(bos, llama.token_to_id(bos))],
            ),
        ]
    )
    dump_processed(llama, out, "llama3_template", texts)

    gpt2 = Tokenizer.from_file(os.path.join(out, "gpt2_style.tokenizer.json"))
    gpt2.add_special_tokens([AddedToken("<mask>", lstrip=True, normalized=False, special=True)])
    eot = "<|endoftext|>"
    gpt2.post_processor = processors.RobertaProcessing(
        (eot, gpt2.token_to_id(eot)), (eot, gpt2.token_to_id(eot)), trim_offsets=True, add_prefix_space=False
    )
    dump_processed(gpt2, out, "gpt2_roberta", texts)


if __name__ == "__main__":
    main()
