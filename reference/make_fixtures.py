"""Build the PyTorch parity fixtures of the attention and Mamba-2 mixers.

Each fixture is a small safetensors file holding a random input `u`, the
parameters of one randomly initialised Hugging Face transformers module under
the Go mixer's parameter names, and the module's output `y` (and, for
attention, the post-softmax probabilities `matrix` [B,H,T,T]).

The modules are built inside one-layer transformers models so that the
rotary tables, the causal mask and the call plumbing are the model's own;
forward hooks capture what the mixer module receives and returns. Parameters
are drawn in float32 and the forward pass runs in float64 on the CPU with
those float32 values, so the stored outputs (rounded to float32) are an
accurate reference for a float32 implementation.
"""

import argparse
import inspect
import json
import os
import sys
import traceback

import torch
import transformers
from safetensors.torch import save_file


def capture(module):
    """Registers a hook on module; returns a dict filled on the next call."""
    got = {}

    def hook(mod, args, kwargs, output):
        hs = kwargs.get("hidden_states")
        if hs is None:
            hs = args[0]
        got["u"] = hs.detach().clone()
        got["out"] = output

    module.register_forward_hook(hook, with_kwargs=True)
    return got


def f32(t):
    return t.detach().to(torch.float32).contiguous().cpu()


def round_params_to_f32(model):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.float32).to(p.dtype))


def save(path, tensors, meta):
    save_file({k: f32(v) for k, v in tensors.items()}, path,
              metadata={k: str(v) for k, v in meta.items()})
    print("wrote", path, {k: tuple(v.shape) for k, v in tensors.items()})


def check_inv_freq(rotary, theta, rot_dim):
    want = 1.0 / (theta ** (torch.arange(0, rot_dim, 2, dtype=torch.float64) / rot_dim))
    got = rotary.inv_freq.to(torch.float64).cpu()
    print("inv_freq", got.tolist(), "want", want.tolist())
    assert got.shape == want.shape, (got.shape, want.shape)
    assert torch.allclose(got, want, rtol=1e-6), "rotary inv_freq differs from theta/rot_dim"


def randomise_attention(attn, gen):
    with torch.no_grad():
        for name, p in attn.named_parameters():
            if name.endswith("weight"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.25)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)


def attention_fixture(out, name, model_cls, config, out_proj, theta, rot_dim, shape, seed):
    if hasattr(config, "rope_parameters"):
        # Newer transformers keep theta (and the rotated fraction) here.
        rp = dict(config.rope_parameters or {})
        rp.update(rope_type="default", rope_theta=theta)
        if getattr(config, "partial_rotary_factor", None) is not None:
            rp["partial_rotary_factor"] = config.partial_rotary_factor
        config.rope_parameters = rp
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    config._attn_implementation = "eager"
    model = model_cls(config).eval()
    attn = model.layers[0].self_attn
    randomise_attention(attn, gen)
    round_params_to_f32(model)
    model = model.double()
    check_inv_freq(model.rotary_emb, theta, rot_dim)
    got = capture(attn)
    x = torch.randn(shape, generator=gen).to(torch.float64)
    with torch.no_grad():
        model(inputs_embeds=x, use_cache=False, output_attentions=True)
    y, probs = got["out"][0], got["out"][1]
    assert probs is not None, "eager attention returned no probabilities"
    tensors = {"u": got["u"], "y": y, "matrix": probs}
    for n in ("q_proj", "k_proj", "v_proj", out_proj):
        lin = getattr(attn, n)
        tensors[n + ".weight"] = lin.weight
        if lin.bias is not None:
            tensors[n + ".bias"] = lin.bias
    meta = {"transformers": transformers.__version__, "torch": torch.__version__,
            "module": type(attn).__name__, "config": config.to_json_string(use_diff=True)}
    save(os.path.join(out, name + ".safetensors"), tensors, meta)


def mamba2_fixture(out, name, n_groups, shape, seed):
    from transformers import Mamba2Config, Mamba2Model

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    hidden, expand, head_dim = shape[-1], 2, 8
    config = Mamba2Config(
        vocab_size=16, hidden_size=hidden, expand=expand, head_dim=head_dim,
        num_heads=expand * hidden // head_dim, n_groups=n_groups, state_size=16,
        conv_kernel=4, chunk_size=4, num_hidden_layers=1, use_bias=False,
        use_conv_bias=True, layer_norm_epsilon=1e-5, residual_in_fp32=False)
    model = Mamba2Model(config).eval()
    mixer = model.layers[0].mixer
    h = mixer.num_heads
    with torch.no_grad():
        mixer.in_proj.weight.copy_(torch.randn(mixer.in_proj.weight.shape, generator=gen) * 0.2)
        mixer.out_proj.weight.copy_(torch.randn(mixer.out_proj.weight.shape, generator=gen) * 0.1)
        mixer.conv1d.weight.copy_(torch.randn(mixer.conv1d.weight.shape, generator=gen) * 0.4)
        mixer.conv1d.bias.copy_(torch.randn(mixer.conv1d.bias.shape, generator=gen) * 0.1)
        dt = 0.01 + 0.5 * torch.rand(h, generator=gen)  # Δ in [0.01, 0.51]
        mixer.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹
        mixer.A_log.copy_(torch.log(1 + 7 * torch.rand(h, generator=gen)))
        mixer.D.copy_(torch.randn(h, generator=gen))
        mixer.norm.weight.copy_(1 + 0.3 * torch.randn(mixer.norm.weight.shape, generator=gen))
    round_params_to_f32(model)
    model = model.double()
    got = capture(mixer)
    x = torch.randn(shape, generator=gen).to(torch.float64)
    with torch.no_grad():
        model(inputs_embeds=x, use_cache=False)
    y = got["out"][0] if isinstance(got["out"], tuple) else got["out"]
    extra = {}
    if n_groups > 1:
        # The torch path's MambaRMSNormGated takes one RMS over all
        # intermediate channels; mamba_ssm's Mamba2 (RMSNormGated with
        # group_size = d_ssm/ngroups) takes it per group of
        # intermediate/n_groups channels. Store that output too.
        norm = mixer.norm

        def grouped(hidden_states, gate=None):
            h = hidden_states.to(torch.float64)
            if gate is not None:
                h = h * torch.nn.functional.silu(gate.to(torch.float64))
            g = h.reshape(*h.shape[:-1], n_groups, -1)
            g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)
            return norm.weight * g.reshape(h.shape).to(hidden_states.dtype)

        norm.forward = grouped
        with torch.no_grad():
            model(inputs_embeds=x, use_cache=False)
        extra["y_grouped_norm"] = got["out"][0] if isinstance(got["out"], tuple) else got["out"]
    k = mixer.conv1d.weight.shape[-1]
    tensors = {
        "u": got["u"], "y": y,
        "in_proj.weight": mixer.in_proj.weight,
        "conv1d.weight": mixer.conv1d.weight.reshape(-1, k),
        "conv1d.bias": mixer.conv1d.bias,
        "dt_bias": mixer.dt_bias, "A_log": mixer.A_log, "D": mixer.D,
        "norm.weight": mixer.norm.weight,
        "out_proj.weight": mixer.out_proj.weight,
        **extra,
    }
    meta = {"transformers": transformers.__version__, "torch": torch.__version__,
            "module": type(mixer).__name__, "config": config.to_json_string(use_diff=True),
            "time_step_limit": str(tuple(mixer.time_step_limit))}
    save(os.path.join(out, name + ".safetensors"), tensors, meta)


def dump_sources(out):
    """Writes the source of the modules the fixtures exercise, for reading."""
    from transformers.models.llama import modeling_llama
    from transformers.models.mamba2 import modeling_mamba2
    from transformers.models.phi import modeling_phi

    d = os.path.join(out, "src")
    os.makedirs(d, exist_ok=True)
    for mod in (modeling_phi, modeling_llama, modeling_mamba2):
        with open(os.path.join(d, mod.__name__.split(".")[-1] + ".py"), "w") as f:
            f.write(inspect.getsource(mod))


def run(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception:
        traceback.print_exc()
        global failed
        failed = True


failed = False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    print("torch", torch.__version__, "transformers", transformers.__version__)
    try:
        dump_sources(a.out)
    except Exception as e:  # the fixtures do not depend on it
        print("source dump failed:", e)

    from transformers import LlamaConfig, LlamaModel, PhiConfig, PhiModel

    # Phi: 4 heads of 8 channels, the first 4 rotated, biases everywhere.
    phi = PhiConfig(vocab_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                    num_attention_heads=4, num_key_value_heads=4, partial_rotary_factor=0.5,
                    rope_theta=10000.0, attention_dropout=0.0, resid_pdrop=0.0, embd_pdrop=0.0,
                    max_position_embeddings=64)
    run(attention_fixture, a.out, "phi", PhiModel, phi, "dense", 10000.0, 4, (2, 7, 32), seed=1)

    # Llama: 4 query heads, 2 key/value heads of 8 channels, full rotary.
    llama = LlamaConfig(vocab_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                        num_attention_heads=4, num_key_value_heads=2, rope_theta=500000.0,
                        attention_bias=False, attention_dropout=0.0, max_position_embeddings=64)
    run(attention_fixture, a.out, "llama", LlamaModel, llama, "o_proj", 500000.0, 8, (2, 7, 32), seed=2)

    run(mamba2_fixture, a.out, "mamba2_g1", 1, (2, 9, 32), seed=3)
    run(mamba2_fixture, a.out, "mamba2_g2", 2, (2, 9, 32), seed=4)


if __name__ == "__main__":
    main()
    if failed:
        sys.exit(1)
