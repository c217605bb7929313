"""Build small whole-model parity fixtures for framework/models.

For each family (phi, llama, gpt2) a randomly initialised float32 model of a
tiny config is saved with save_pretrained (config.json + model.safetensors),
and beside it io.safetensors holds input ids [2, 11] (as float32) and the
model's float32 logits [2, 11, 64]. Each folder is packed as <family>.tar
under --out.
"""

import argparse
import os
import tarfile

import torch
import transformers
from safetensors.torch import save_file


def build(family):
    common = dict(vocab_size=64, hidden_size=32, num_hidden_layers=2,
                  num_attention_heads=4, max_position_embeddings=64)
    if family == "phi":
        cfg = transformers.PhiConfig(intermediate_size=128, partial_rotary_factor=0.5,
                                     hidden_act="gelu_new", resid_pdrop=0.0,
                                     embd_pdrop=0.0, attention_dropout=0.0, **common)
        return transformers.PhiForCausalLM(cfg)
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
    args = ap.parse_args()
    print("torch", torch.__version__, "transformers", transformers.__version__)
    for i, family in enumerate(["phi", "llama", "gpt2"]):
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
        ids = torch.randint(0, 64, (2, 11), generator=gen)
        with torch.no_grad():
            m64 = model.to(torch.float64)
            logits = m64(input_ids=ids).logits.to(torch.float32)
        save_file({"input_ids": ids.to(torch.float32).contiguous(),
                   "logits": logits.contiguous()}, os.path.join(d, "io.safetensors"))
        print(family, "files", os.listdir(d), "max|logit|", logits.abs().max().item())
        with tarfile.open(os.path.join(args.out, family + ".tar"), "w") as tf:
            tf.add(d, arcname=family)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        os.rmdir(d)


if __name__ == "__main__":
    main()
