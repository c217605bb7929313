"""Build small whole-model parity fixtures for framework/models.

For each fixture (phi, llama, gpt2, llama3) a randomly initialised float32
model of a tiny config is saved with save_pretrained (config.json +
model.safetensors), and beside it io.safetensors holds input ids [2, T] (as
float32; T is 11, or 24 for llama3) and the model's float32 logits
[2, T, 64]. Each folder is packed as <name>.tar under --out. --only makes
just the fixtures named (each keeps its own seeds).

llama3 is a Llama with Llama 3.1-style rope scaling (rope_type llama3) and
a tied head: head dim 16 (8 inverse frequencies at theta 10000, wavelengths
2*pi*10000^(i/8)) with original_max_position_embeddings 64, factor 8,
low_freq_factor 1 and high_freq_factor 4, so the wavelength bands are
< 16 (kept: i = 0), 16..64 (smoothed: i = 1, 2) and > 64 (divided by the
factor: i = 3..7). Its io.safetensors also holds the model's inv_freq.
"""

import argparse
import os
import tarfile

import torch
import transformers
from safetensors.torch import save_file


FIXTURES = ["phi", "llama", "gpt2", "llama3"]


def build(family):
    common = dict(vocab_size=64, hidden_size=32, num_hidden_layers=2,
                  num_attention_heads=4, max_position_embeddings=64)
    if family == "phi":
        cfg = transformers.PhiConfig(intermediate_size=128, partial_rotary_factor=0.5,
                                     hidden_act="gelu_new", resid_pdrop=0.0,
                                     embd_pdrop=0.0, attention_dropout=0.0, **common)
        return transformers.PhiForCausalLM(cfg)
    if family == "llama3":
        scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                   "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
        # rope_scaling is read by every transformers version (newer ones
        # move it into rope_parameters, with rope_theta).
        cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2,
                                       num_attention_heads=2, num_key_value_heads=1,
                                       intermediate_size=64, max_position_embeddings=512,
                                       rms_norm_eps=1e-5, tie_word_embeddings=True,
                                       rope_theta=10000.0, rope_scaling=scaling)
        model = transformers.LlamaForCausalLM(cfg)
        if model.model.rotary_emb.rope_type != "llama3":
            raise SystemExit("llama3: the rotary embedding is %r" % model.model.rotary_emb.rope_type)
        return model
    if family == "llama":
        cfg = transformers.LlamaConfig(intermediate_size=64, num_key_value_heads=2,
                                       rms_norm_eps=1e-5, tie_word_embeddings=False,
                                       **common)
        return transformers.LlamaForCausalLM(cfg)
    cfg = transformers.GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=4,
                                  n_positions=64, resid_pdrop=0.0, embd_pdrop=0.0,
                                  attn_pdrop=0.0)
    return transformers.GPT2LMHeadModel(cfg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*", choices=FIXTURES, help="make only these fixtures")
    args = ap.parse_args()
    print("torch", torch.__version__, "transformers", transformers.__version__)
    for i, family in enumerate(FIXTURES):
        if args.only and family not in args.only:
            continue
        torch.manual_seed(1234 + i)
        model = build(family).to(torch.float32).eval()
        with torch.no_grad():
            # Larger-than-default random values so every term matters.
            for name, p in model.named_parameters():
                if "norm" in name or "ln_" in name:
                    p.copy_(1 + 0.1 * torch.randn_like(p) if name.endswith("weight") else 0.1 * torch.randn_like(p))
                else:
                    p.copy_(0.1 * torch.randn_like(p))
        d = os.path.join(args.out, family)
        model.save_pretrained(d, safe_serialization=True)
        gen = torch.Generator().manual_seed(99 + i)
        ids = torch.randint(0, 64, (2, 24 if family == "llama3" else 11), generator=gen)
        with torch.no_grad():
            m64 = model.to(torch.float64)
            logits = m64(input_ids=ids).logits.to(torch.float32)
        io = {"input_ids": ids.to(torch.float32).contiguous(), "logits": logits.contiguous()}
        if family == "llama3":
            inv_freq = m64.model.rotary_emb.inv_freq.to(torch.float32).contiguous()
            print("llama3 inv_freq", inv_freq.tolist())
            io["inv_freq"] = inv_freq
        save_file(io, os.path.join(d, "io.safetensors"))
        print(family, "files", os.listdir(d), "max|logit|", logits.abs().max().item())
        with open(os.path.join(d, "config.json")) as f:
            print(f.read())
        with tarfile.open(os.path.join(args.out, family + ".tar"), "w") as tf:
            tf.add(d, arcname=family)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        os.rmdir(d)


if __name__ == "__main__":
    main()
