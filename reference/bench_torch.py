"""PyTorch side of mohawk's GPU benchmarks (issue: speed on the H200).

Measures, on one device, in eager PyTorch (no torch.compile, no CUDA graphs):

1. GEMM 4096x4096x4096 in float32 with TF32 disabled (allow_tf32 False for
   cuBLAS and cuDNN, float32 matmul precision "highest"), and in float16 and
   bfloat16 (fp32 accumulation; the reduced-precision-reduction switches are
   turned off as well, so split-K partial sums are also fp32). torch.mm into a
   preallocated output, random normal inputs; each timed run is one product
   between two CUDA events, after warm-up; the figure is the median.
   The fp32 product is compared with a float64 product of the same inputs:
   a relative error of order 1e-6 shows TF32 was really off (TF32: 1e-4 to 1e-3).

2. One MOHAWK stage-2 and one stage-3 training step at Phi-1.5 dimensions
   (d_model 2048, 24 layers, 32 heads of 64, MLP 8192 with tanh-GELU, partial
   rotary 0.5 = 32 channels, theta 10000, vocabulary 51200, T 2048, batch 1),
   random weights, written here with small modules so that exactly what is
   timed is visible:

   Teacher (Phi): embedding; per block h <- h + attn(LN h) + MLP(LN h) with
   one shared LayerNorm (eps 1e-5); final LayerNorm; LM head with bias.
   Attention: q, k, v, dense with biases, rotary on the first 32 channels of
   each head (rotate-half form), causal softmax with scale 1/sqrt(64), either
   torch.nn.functional.scaled_dot_product_attention(is_causal=True)
   (--attn sdpa, default; torch picks the kernel) or an explicit
   QK^T -> mask -> softmax (in fp32) -> PV (--attn explicit).

   Student mixer, discrete Mamba-2 (Phi-Mamba): in_proj (no bias) ->
   [x (H*P) | B (G*N) | C (G*N) | z (H*P) | a (H)] with G = H (one B/C per
   head), N 64; depthwise causal conv, kernel 4, with bias and identity
   activation, over x, B, C; log alpha = -softplus(a); chunked SSD (chunk 128,
   segment sums by a masked cumulative sum) plus D*x; y * silu(z + z_bias);
   out_proj (no bias). MOHAWK's init: projections N(0, 0.02), conv the
   identity (last tap 1), conv bias 0, z_bias 0, D 1.

   Stage-2 step: teacher forward under no_grad keeping every layer's normed
   input u_l and attention output o_l; all student mixers on their u_l;
   loss = sum over layers of the mean over (batch, position) of the
   unsquared L2 norm over the hidden dim of mixer_l(u_l) - o_l; backward;
   AdamW step on the mixers only.

   Stage-3 step: teacher logits under no_grad; the student (the teacher's
   embedding, norms, MLPs, final norm and head, copied, with the attention
   replaced by mixers) forward; loss = soft cross-entropy against the
   teacher's softmax at temperature 1, mean over positions; backward; AdamW
   step on every student parameter.

   AdamW: torch.optim.AdamW with its default implementation, lr 1e-4,
   betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on matrices (and the
   embedding and conv taps), none on biases, norms, z_bias and D. No
   gradient clipping unless --clip is given. The input batch is one fixed
   random batch of token ids.

   Figures: median step time over --steps timed steps after --warmup steps
   (CUDA events around each whole step: forward, backward, optimizer),
   tokens/s = batch*T / median step time, and torch.cuda.max_memory_allocated
   over the stage (teacher weights included). --dtype fp32 (default) runs
   everything in float32 with TF32 off (--tf32 allows TF32 in the steps);
   --dtype bf16 runs the forward passes under torch.autocast(bfloat16) with
   float32 weights and optimizer.

3. --check: on tiny dimensions in float64 on the CPU, the chunked SSD equals
   the plain per-token recurrence and the materialised form (outputs and
   gradients, to 1e-10), the whole mixer equals a token-by-token version of
   itself (conv by explicit windows), sdpa equals the explicit attention, the
   teacher and student are causal, and then tiny stage-2 and stage-3 steps run
   through the same code as the benchmark (losses finite).

Usage (repository root):
  python3 reference/bench_torch.py --check
  python3 reference/bench_torch.py                  # table on stdout
  python3 reference/bench_torch.py --json > out.json # table on stderr
  python3 reference/bench_torch.py --dtype bf16 --parts stage2,stage3
  python3 reference/bench_torch.py --device cpu --tiny
"""

import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F

PHI15 = dict(d_model=2048, layers=24, heads=32, mlp=8192, vocab=51200,
             rotary_dim=32, seq=2048, state=64, chunk=128)
TINY = dict(d_model=64, layers=2, heads=4, mlp=256, vocab=512,
            rotary_dim=8, seq=300, state=16, chunk=128)
CONV_K = 4
LN_EPS = 1e-5
ROPE_THETA = 10000.0
INIT_STD = 0.02


# ----------------------------------------------------------------------------
# precision switches


def set_precision(tf32):
    """TF32 on or off for cuBLAS and cuDNN, through the legacy switches only
    (mixing them with the newer fp32_precision attributes makes torch refuse
    to report the state)."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")


def strict_half_accumulation():
    """fp16/bf16 GEMMs accumulate in fp32 in torch; also forbid reduced
    precision in cuBLAS's split-K reductions."""
    m = torch.backends.cuda.matmul
    for name in ("allow_fp16_reduced_precision_reduction",
                 "allow_bf16_reduced_precision_reduction"):
        try:
            setattr(m, name, False)
        except Exception:  # noqa: BLE001 - absent in some versions
            pass


def precision_state():
    out = {}

    def read(key, fn):
        try:
            out[key] = fn()
        except Exception as e:  # noqa: BLE001
            out[key] = "unreadable: %s" % str(e).split("\n")[0][:120]

    read("cuda.matmul.allow_tf32", lambda: torch.backends.cuda.matmul.allow_tf32)
    read("cudnn.allow_tf32", lambda: torch.backends.cudnn.allow_tf32)
    read("float32_matmul_precision", torch.get_float32_matmul_precision)
    read("allow_fp16_reduced_precision_reduction",
         lambda: torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction)
    read("allow_bf16_reduced_precision_reduction",
         lambda: torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction)
    out["TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"] = os.environ.get("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE")
    return out


# ----------------------------------------------------------------------------
# modules


class Linear(nn.Module):
    """y = x W^T (+ b), W [out, in] ~ N(0, 0.02), b = 0."""

    def __init__(self, d_in, d_out, bias, device, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d_out, d_in, device=device, dtype=dtype).normal_(0.0, INIT_STD))
        self.bias = nn.Parameter(torch.zeros(d_out, device=device, dtype=dtype)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


def rotary_tables(seq, rot_dim, device, dtype):
    """cos, sin [T, rot_dim]: angle t * theta^(-2i/rot_dim), the rot_dim/2
    frequencies repeated twice (rotate-half layout)."""
    inv = 1.0 / (ROPE_THETA ** (torch.arange(0, rot_dim, 2, dtype=torch.float64) / rot_dim))
    ang = torch.outer(torch.arange(seq, dtype=torch.float64), inv)
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().to(device=device, dtype=dtype), ang.sin().to(device=device, dtype=dtype)


def apply_rotary(q, cos, sin):
    """q [B,H,T,Dh]; rotates the first rot_dim channels, passes the rest."""
    rot = cos.shape[-1]
    qr, qp = q[..., :rot], q[..., rot:]
    half = rot // 2
    rotated = torch.cat([-qr[..., half:], qr[..., :half]], dim=-1)
    cos, sin = cos.to(q.dtype), sin.to(q.dtype)
    return torch.cat([qr * cos + rotated * sin, qp], dim=-1)


class PhiAttention(nn.Module):
    def __init__(self, d, heads, device, dtype):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.q_proj = Linear(d, d, True, device, dtype)
        self.k_proj = Linear(d, d, True, device, dtype)
        self.v_proj = Linear(d, d, True, device, dtype)
        self.dense = Linear(d, d, True, device, dtype)

    def forward(self, u, cos, sin, attn):
        b, t, d = u.shape

        def heads(v):
            return v.reshape(b, t, self.h, self.dh).transpose(1, 2)

        q = apply_rotary(heads(self.q_proj(u)), cos, sin)
        k = apply_rotary(heads(self.k_proj(u)), cos, sin)
        v = heads(self.v_proj(u))
        scale = 1.0 / math.sqrt(self.dh)
        if attn == "sdpa":
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
        else:
            s = torch.matmul(q, k.transpose(-1, -2)) * scale
            above = torch.ones(t, t, dtype=torch.bool, device=u.device).triu(1)
            s = s.to(torch.promote_types(s.dtype, torch.float32)).masked_fill(above, float("-inf"))
            p = torch.softmax(s, dim=-1).to(v.dtype)
            y = torch.matmul(p, v)
        return self.dense(y.transpose(1, 2).reshape(b, t, d))


class PhiMLP(nn.Module):
    def __init__(self, d, hidden, device, dtype):
        super().__init__()
        self.fc1 = Linear(d, hidden, True, device, dtype)
        self.fc2 = Linear(hidden, d, True, device, dtype)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class TeacherBlock(nn.Module):
    def __init__(self, c, device, dtype):
        super().__init__()
        self.ln = nn.LayerNorm(c["d_model"], eps=LN_EPS, device=device, dtype=dtype)
        self.attn = PhiAttention(c["d_model"], c["heads"], device, dtype)
        self.mlp = PhiMLP(c["d_model"], c["mlp"], device, dtype)


class Teacher(nn.Module):
    def __init__(self, c, device, dtype):
        super().__init__()
        self.c = c
        d = c["d_model"]
        self.embed = nn.Parameter(torch.empty(c["vocab"], d, device=device, dtype=dtype).normal_(0.0, INIT_STD))
        self.blocks = nn.ModuleList(TeacherBlock(c, device, dtype) for _ in range(c["layers"]))
        self.final_ln = nn.LayerNorm(d, eps=LN_EPS, device=device, dtype=dtype)
        self.head = Linear(d, c["vocab"], True, device, dtype)
        cos, sin = rotary_tables(c["seq"], c["rotary_dim"], device, dtype)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def run(self, ids, attn, taps=None):
        t = ids.shape[1]
        cos, sin = self.cos[:t], self.sin[:t]
        h = F.embedding(ids, self.embed)
        for blk in self.blocks:
            u = blk.ln(h)
            a = blk.attn(u, cos, sin, attn)
            if taps is not None:
                taps.append((u, a))
            h = h + a + blk.mlp(u)
        return h

    def taps(self, ids, attn):
        """[(u_l, o_l)]: each layer's normed input and attention output."""
        out = []
        self.run(ids, attn, out)
        return out

    def logits(self, ids, attn):
        return self.head(self.final_ln(self.run(ids, attn)))


def segsum(a):
    """a [..., Q] -> [..., Q, Q]: out[i, j] = a[j+1] + ... + a[i] for i >= j
    (0 on the diagonal), -inf for i < j. Built by a cumulative sum down the
    rows of a strictly-lower-masked copy, not as a difference of cumsums."""
    q = a.shape[-1]
    rows = a.unsqueeze(-1).expand(*a.shape, q)  # rows[..., i, j] = a[i]
    ones = torch.ones(q, q, dtype=torch.bool, device=a.device)
    s = rows.masked_fill(~ones.tril(-1), 0.0).cumsum(dim=-2)  # sum over k in (j, i]
    return s.masked_fill(~ones.tril(0), float("-inf"))


def ssd_chunked(x, log_a, bm, cm, d, chunk):
    """y_t = S_t C_t + D x_t, S_t = alpha_t S_{t-1} + x_t B_t^T, by chunks.

    x [B,H,T,P], log_a [B,H,T] (log alpha), bm and cm [B,H,T,N], d [H].
    T is padded to a multiple of the chunk (zeros after the end do not reach
    earlier outputs)."""
    b, h, t, p = x.shape
    n = bm.shape[-1]
    pad = (-t) % chunk
    xs = x
    if pad:
        xs = F.pad(x, (0, 0, 0, pad))
        bm = F.pad(bm, (0, 0, 0, pad))
        cm = F.pad(cm, (0, 0, 0, pad))
        log_a = F.pad(log_a, (0, pad))
    nc = (t + pad) // chunk
    xc = xs.reshape(b, h, nc, chunk, p)
    bc = bm.reshape(b, h, nc, chunk, n)
    cc = cm.reshape(b, h, nc, chunk, n)
    ac = log_a.reshape(b, h, nc, chunk)
    acum = ac.cumsum(dim=-1)  # [B,H,c,Q]

    # 1. within each chunk: (L o C B^T) x
    decay = torch.exp(segsum(ac))  # [B,H,c,Q,Q]
    scores = torch.matmul(cc, bc.transpose(-1, -2))  # [B,H,c,Q(l),Q(s)]
    y_diag = torch.matmul(scores * decay, xc)  # [B,H,c,Q,P]

    # 2. each chunk's own end state: sum_s alpha(s+1..end) x_s B_s^T
    to_end = torch.exp(acum[..., -1:] - acum)  # [B,H,c,Q]
    local = torch.matmul((xc * to_end.unsqueeze(-1)).transpose(-1, -2), bc)  # [B,H,c,P,N]

    # 3. states entering each chunk: scan across chunks (zero initial state)
    totals = F.pad(acum[..., -1], (1, 0))  # [B,H,c+1]
    across = torch.exp(segsum(totals))  # [B,H,c+1,c+1]
    local = torch.cat([torch.zeros_like(local[:, :, :1]), local], dim=2)  # [B,H,c+1,P,N]
    states = torch.matmul(across, local.reshape(b, h, nc + 1, p * n))
    states_in = states[:, :, :-1].reshape(b, h, nc, p, n)

    # 4. the entering state's contribution: alpha(chunk start..l) C_l S_in
    y_off = torch.matmul(cc, states_in.transpose(-1, -2)) * torch.exp(acum).unsqueeze(-1)  # [B,H,c,Q,P]

    y = (y_diag + y_off).reshape(b, h, nc * chunk, p)[:, :, :t]
    return y + d.reshape(1, h, 1, 1) * x


def ssd_recurrent(x, log_a, bm, cm, d):
    """The plain per-token recurrence (reference for --check)."""
    b, h, t, p = x.shape
    n = bm.shape[-1]
    s = x.new_zeros(b, h, p, n)
    ys = []
    for i in range(t):
        alpha = torch.exp(log_a[:, :, i]).reshape(b, h, 1, 1)
        s = alpha * s + x[:, :, i, :, None] * bm[:, :, i, None, :]
        ys.append(torch.matmul(s, cm[:, :, i, :, None]).squeeze(-1) + d.reshape(1, h, 1) * x[:, :, i])
    return torch.stack(ys, dim=2)


def ssd_materialised(x, log_a, bm, cm, d):
    """M = L o (C B^T) + diag(D), y = M x (reference for --check)."""
    t = x.shape[2]
    m = torch.exp(segsum(log_a)) * torch.matmul(cm, bm.transpose(-1, -2))
    m = m + d.reshape(1, -1, 1, 1) * torch.eye(t, dtype=x.dtype, device=x.device)
    return torch.matmul(m, x)


class DiscreteMamba2(nn.Module):
    def __init__(self, d, heads, state, chunk, device, dtype, groups=None):
        super().__init__()
        self.h, self.p, self.n = heads, d // heads, state
        self.g = groups or heads
        self.inner = self.h * self.p
        self.chunk = chunk
        self.conv_ch = self.inner + 2 * self.g * self.n
        rows = 2 * self.inner + 2 * self.g * self.n + self.h
        self.in_proj = Linear(d, rows, False, device, dtype)
        w = torch.zeros(self.conv_ch, 1, CONV_K, device=device, dtype=dtype)
        w[:, :, -1] = 1.0  # identity: the last tap sees the current token
        self.conv_weight = nn.Parameter(w)
        self.conv_bias = nn.Parameter(torch.zeros(self.conv_ch, device=device, dtype=dtype))
        self.z_bias = nn.Parameter(torch.zeros(self.inner, device=device, dtype=dtype))
        self.D = nn.Parameter(torch.ones(self.h, device=device, dtype=dtype))
        self.out_proj = Linear(self.inner, d, False, device, dtype)

    def split(self, proj):
        return proj.split([self.conv_ch, self.inner, self.h], dim=-1)  # xBC, z, a

    def heads(self, xbc, b, t):
        x, bm, cm = xbc.split([self.inner, self.g * self.n, self.g * self.n], dim=-1)
        x = x.reshape(b, t, self.h, self.p).transpose(1, 2)
        bm = bm.reshape(b, t, self.g, self.n).transpose(1, 2)
        cm = cm.reshape(b, t, self.g, self.n).transpose(1, 2)
        if self.g != self.h:
            bm = bm.repeat_interleave(self.h // self.g, dim=1)
            cm = cm.repeat_interleave(self.h // self.g, dim=1)
        return x, bm, cm

    def forward(self, u):
        b, t, _ = u.shape
        xbc, z, a = self.split(self.in_proj(u))
        xbc = F.conv1d(xbc.transpose(1, 2), self.conv_weight, self.conv_bias,
                       padding=CONV_K - 1, groups=self.conv_ch)[..., :t].transpose(1, 2)
        x, bm, cm = self.heads(xbc, b, t)
        # the decay in at least float32 (also under bf16 autocast)
        log_a = -F.softplus(a.to(torch.promote_types(a.dtype, torch.float32))).transpose(1, 2)  # [B,H,T]
        y = ssd_chunked(x, log_a, bm, cm, self.D, self.chunk)
        y = y.transpose(1, 2).reshape(b, t, self.inner)
        return self.out_proj(y * F.silu(z + self.z_bias))


def mixer_recurrent(m, u):
    """DiscreteMamba2 token by token: conv over an explicit window of the
    last K inputs, alpha = sigmoid(-a), state update (reference for --check)."""
    b, t, _ = u.shape
    xbc, z, a = m.split(m.in_proj(u))
    w = m.conv_weight[:, 0, :]  # [C, K], last tap = current token
    window = u.new_zeros(b, m.conv_ch, CONV_K)
    s = u.new_zeros(b, m.h, m.p, m.n)
    outs = []
    for i in range(t):
        window = torch.cat([window[:, :, 1:], xbc[:, i, :, None]], dim=2)
        v = (window * w).sum(-1) + m.conv_bias
        x, bm, cm = m.heads(v.unsqueeze(1), b, 1)
        x, bm, cm = x[:, :, 0], bm[:, :, 0], cm[:, :, 0]  # [B,H,P], [B,H,N]
        alpha = torch.sigmoid(-a[:, i]).reshape(b, m.h, 1, 1)
        s = alpha * s + x[..., :, None] * bm[..., None, :]
        y = torch.matmul(s, cm[..., None]).squeeze(-1) + m.D.reshape(1, m.h, 1) * x
        y = y.reshape(b, m.inner) * F.silu(z[:, i] + m.z_bias)
        outs.append(m.out_proj(y))
    return torch.stack(outs, dim=1)


class StudentBlock(nn.Module):
    def __init__(self, tblock, c, device, dtype):
        super().__init__()
        self.ln = copy_module(tblock.ln)
        self.mixer = DiscreteMamba2(c["d_model"], c["heads"], c["state"], c["chunk"], device, dtype)
        self.mlp = copy_module(tblock.mlp)


class Student(nn.Module):
    """The teacher with its attention replaced by discrete Mamba-2 mixers;
    embedding, norms, MLPs and head copied (MOHAWK stage 3's transfer)."""

    def __init__(self, teacher, device, dtype):
        super().__init__()
        c = teacher.c
        self.embed = nn.Parameter(teacher.embed.detach().clone())
        self.blocks = nn.ModuleList(StudentBlock(tb, c, device, dtype) for tb in teacher.blocks)
        self.final_ln = copy_module(teacher.final_ln)
        self.head = copy_module(teacher.head)

    def forward(self, ids):
        h = F.embedding(ids, self.embed)
        for blk in self.blocks:
            u = blk.ln(h)
            h = h + blk.mixer(u) + blk.mlp(u)
        return self.head(self.final_ln(h))


def copy_module(m):
    """A copy of m with its own trainable parameters."""
    import copy
    out = copy.deepcopy(m)
    out.requires_grad_(True)
    return out


def adamw(params, lr):
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [dict(params=decay, weight_decay=0.1), dict(params=no_decay, weight_decay=0.0)]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8)


# ----------------------------------------------------------------------------
# steps


def autocast(device, dtype):
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16,
                          enabled=(dtype == "bf16"))


class Stage2:
    def __init__(self, teacher, args, device, pdtype):
        c = teacher.c
        self.teacher, self.args = teacher, args
        self.mixers = nn.ModuleList(
            DiscreteMamba2(c["d_model"], c["heads"], c["state"], c["chunk"], device, pdtype)
            for _ in range(c["layers"]))
        self.params = list(self.mixers.parameters())
        self.opt = adamw(self.params, args.lr)

    def step(self, ids):
        a = self.args
        with torch.no_grad(), autocast(a.device, a.dtype):
            taps = self.teacher.taps(ids, a.attn)
        with autocast(a.device, a.dtype):
            loss = 0.0
            for mixer, (u, o) in zip(self.mixers, taps):
                diff = (mixer(u) - o).float()
                loss = loss + torch.linalg.vector_norm(diff, dim=-1).mean()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, a.clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss.detach()


class Stage3:
    def __init__(self, teacher, args, device, pdtype):
        self.teacher, self.args = teacher, args
        self.student = Student(teacher, device, pdtype)
        self.params = list(self.student.parameters())
        self.opt = adamw(self.params, args.lr)

    def step(self, ids):
        a = self.args
        with torch.no_grad(), autocast(a.device, a.dtype):
            target = torch.softmax(self.teacher.logits(ids, a.attn).float(), dim=-1)
        with autocast(a.device, a.dtype):
            logp = torch.log_softmax(self.student(ids).float(), dim=-1)
            loss = -(target * logp).sum(-1).mean()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, a.clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss.detach()


def is_cuda(device):
    return torch.device(device).type == "cuda"


def time_calls(fn, warmup, runs, device):
    """Per-call milliseconds: CUDA events on a GPU, perf_counter on the CPU.
    Also returns what the calls returned and the wall-clock mean."""
    outs = []
    for _ in range(warmup):
        outs.append(fn())
    cuda = is_cuda(device)
    if cuda:
        torch.cuda.synchronize()
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(runs)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(runs)]
    ms = []
    w0 = time.perf_counter()
    for i in range(runs):
        if cuda:
            starts[i].record()
            outs.append(fn())
            ends[i].record()
        else:
            t0 = time.perf_counter()
            outs.append(fn())
            ms.append((time.perf_counter() - t0) * 1e3)
    if cuda:
        torch.cuda.synchronize()
        ms = [s.elapsed_time(e) for s, e in zip(starts, ends)]
    wall = (time.perf_counter() - w0) * 1e3 / max(runs, 1)
    return ms, outs, wall


def gib(nbytes):
    return nbytes / 2**30


def bench_gemm(name, dtype, args):
    dev = args.device
    n = args.gemm_n
    g = torch.Generator(device=dev).manual_seed(args.seed)
    a = torch.randn(n, n, device=dev, dtype=torch.float32, generator=g).to(dtype)
    b = torch.randn(n, n, device=dev, dtype=torch.float32, generator=g).to(dtype)
    c = torch.empty(n, n, device=dev, dtype=dtype)
    ms, _, wall = time_calls(lambda: torch.mm(a, b, out=c), args.gemm_warmup, args.gemm_runs, dev)
    med = statistics.median(ms)
    flop = 2.0 * n ** 3
    ref = torch.mm(a.double(), b.double())
    rel = (torch.linalg.vector_norm(c.double() - ref) / torch.linalg.vector_norm(ref)).item()
    return dict(name=name, kind="gemm", m=n, n=n, k=n, dtype=str(dtype).replace("torch.", ""),
                runs=len(ms), median_ms=med, min_ms=min(ms), wall_mean_ms=wall,
                tflops=flop / (med * 1e-3) / 1e12, tflops_best=flop / (min(ms) * 1e-3) / 1e12,
                rel_err_vs_f64=rel)


def count(params):
    return sum(p.numel() for p in params)


def bench_stage(name, cls, teacher, ids, args):
    dev = args.device
    pdtype = next(teacher.parameters()).dtype
    cuda = is_cuda(dev)
    if cuda:
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    start_bytes = torch.cuda.memory_allocated() if cuda else 0
    stage = cls(teacher, args, dev, pdtype)
    trainable = count(stage.params)
    try:
        ms, losses, wall = time_calls(lambda: stage.step(ids), args.warmup, args.steps, dev)
        losses = [float(x) for x in losses]
        peak = torch.cuda.max_memory_allocated() if cuda else 0
    finally:
        del stage
    med = statistics.median(ms)
    tokens = ids.numel()
    return dict(name=name, kind="step", dtype=args.dtype, attn=args.attn, tf32=args.tf32,
                batch=ids.shape[0], seq=ids.shape[1], layers=teacher.c["layers"],
                trainable_params=trainable, steps=len(ms), warmup=args.warmup,
                median_ms=med, min_ms=min(ms), wall_mean_ms=wall,
                tokens_per_s=tokens / (med * 1e-3),
                peak_gib=gib(peak), start_gib=gib(start_bytes),
                loss_first=losses[0], loss_last=losses[-1],
                losses_finite=all(math.isfinite(x) for x in losses))


def model_config(args):
    c = dict(TINY if args.tiny else PHI15)
    for key in ("layers", "seq", "state", "chunk"):
        v = getattr(args, key)
        if v is not None:
            c[key] = v
    return c


def run_bench(args, parts):
    dev = args.device
    results = []
    info = {}

    def attempt(name, fn):
        try:
            r = fn()
        except Exception as e:  # noqa: BLE001 - report and go on to the next part
            oom = isinstance(e, getattr(torch.cuda, "OutOfMemoryError", ())) or "out of memory" in str(e)
            traceback.print_exc(file=sys.stderr)
            r = dict(name=name, error=("out of memory: " if oom else "") + str(e).split("\n")[0][:300])
            if is_cuda(dev):
                gc.collect()
                torch.cuda.empty_cache()
        results.append(r)
        return r

    if "gemm" in parts:
        set_precision(False)
        strict_half_accumulation()
        info["precision_gemm"] = precision_state()
        attempt("GEMM fp32 (TF32 off)", lambda: bench_gemm("GEMM fp32 (TF32 off)", torch.float32, args))
        attempt("GEMM fp16 (fp32 acc)", lambda: bench_gemm("GEMM fp16 (fp32 acc)", torch.float16, args))
        attempt("GEMM bf16 (fp32 acc)", lambda: bench_gemm("GEMM bf16 (fp32 acc)", torch.bfloat16, args))

    c = model_config(args)
    if "stage2" in parts or "stage3" in parts:
        set_precision(args.tf32)
        info["precision_steps"] = precision_state()
        info["model"] = c
        torch.manual_seed(args.seed)
        teacher = Teacher(c, dev, torch.float32)
        teacher.requires_grad_(False)
        info["teacher_params"] = count(teacher.parameters())
        ids = torch.randint(0, c["vocab"], (args.batch, c["seq"]), device=dev)
        tag = "%s %s%s B%d T%d L%d" % (args.dtype, args.attn, " tf32" if args.tf32 else "",
                                       args.batch, c["seq"], c["layers"])
        if "stage2" in parts:
            attempt("stage-2 step " + tag, lambda: bench_stage("stage-2 step " + tag, Stage2, teacher, ids, args))
        if "stage3" in parts:
            attempt("stage-3 step " + tag, lambda: bench_stage("stage-3 step " + tag, Stage3, teacher, ids, args))
        del teacher
    return results, info


def environment(args):
    env = dict(torch=torch.__version__, python=sys.version.split()[0], argv=sys.argv[1:],
               device=args.device)
    if is_cuda(args.device):
        p = torch.cuda.get_device_properties(torch.device(args.device))
        env.update(gpu=p.name, sms=p.multi_processor_count, gpu_mem_gib=round(gib(p.total_memory), 1),
                   cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return env


def table(results, env, info):
    lines = []
    head = "torch %s" % env["torch"]
    if "gpu" in env:
        head += ", CUDA %s, %s (%d SMs)" % (env["cuda"], env["gpu"], env["sms"])
    else:
        head += ", %s" % env["device"]
    lines.append(head)
    if "teacher_params" in info:
        lines.append("model: %s; teacher %.1fM params" % (
            " ".join("%s=%s" % kv for kv in info["model"].items()), info["teacher_params"] / 1e6))
    lines.append("%-44s %10s %18s  %s" % ("what", "median ms", "rate", "detail"))
    for r in results:
        if "error" in r:
            lines.append("%-44s %10s %18s  %s" % (r["name"], "-", "FAILED", r["error"]))
        elif r["kind"] == "gemm":
            lines.append("%-44s %10.3f %12.1f TFLOP/s  best %.1f TFLOP/s; rel. error vs f64 %.1e; %d runs" % (
                "%s %dx%dx%d" % (r["name"], r["m"], r["n"], r["k"]), r["median_ms"], r["tflops"],
                r["tflops_best"], r["rel_err_vs_f64"], r["runs"]))
        else:
            lines.append("%-44s %10.1f %11.0f tokens/s  peak %.1f GiB (%.1f at start); %.1fM trainable; "
                         "loss %.4g -> %.4g; %d steps after %d" % (
                             r["name"], r["median_ms"], r["tokens_per_s"], r["peak_gib"], r["start_gib"],
                             r["trainable_params"] / 1e6, r["loss_first"], r["loss_last"], r["steps"],
                             r["warmup"]))
    for key in ("precision_gemm", "precision_steps"):
        if key in info:
            lines.append("%s: %s" % (key.replace("_", " at "),
                                     ", ".join("%s=%s" % kv for kv in info[key].items())))
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# --check


def check(args):
    torch.manual_seed(1234)
    f64 = torch.float64
    worst = {}
    ok = True

    def close(name, got, want, tol=1e-10):
        nonlocal ok
        err = (got - want).abs().max().item() / max(1.0, want.abs().max().item())
        worst[name] = err
        good = err <= tol and math.isfinite(err)
        ok = ok and good
        print("%-58s %.2e %s" % (name, err, "ok" if good else "FAIL (limit %.0e)" % tol))

    # SSD forms: outputs and gradients, with decays from ~0 to ~1.
    b, h, t, p, n = 2, 3, 37, 5, 4
    for spread in (1.5, 6.0):
        x = torch.randn(b, h, t, p, dtype=f64, requires_grad=True)
        a = (torch.randn(b, h, t, dtype=f64) * spread).requires_grad_(True)
        bm = torch.randn(b, h, t, n, dtype=f64, requires_grad=True)
        cm = torch.randn(b, h, t, n, dtype=f64, requires_grad=True)
        d = torch.randn(h, dtype=f64, requires_grad=True)
        w = torch.randn(b, h, t, p, dtype=f64)
        inputs = (x, a, bm, cm, d)

        def run(fn):
            y = fn(x, -F.softplus(a), bm, cm, d)
            grads = torch.autograd.grad((y * w).sum(), inputs)
            return y.detach(), grads

        ref, gref = run(ssd_recurrent)
        y, g = run(ssd_materialised)
        close("SSD materialised vs recurrence (spread %g)" % spread, y, ref)
        for q in (1, 4, 8, 37, 64):
            y, g = run(lambda *z: ssd_chunked(*z, chunk=q))
            close("SSD chunked Q=%d vs recurrence, T=%d (spread %g)" % (q, t, spread), y, ref)
            for name, gi, gr in zip(("x", "a", "B", "C", "D"), g, gref):
                close("  gradient wrt %s" % name, gi, gr)

    # The whole mixer (random conv, z_bias, D; 2 heads sharing B/C too).
    for groups in (None, 1):
        m = DiscreteMamba2(12, 3, 5, 4, "cpu", f64, groups=groups)
        with torch.no_grad():
            for prm in m.parameters():
                prm.copy_(torch.randn_like(prm) * 0.5)
        u = torch.randn(2, 11, 12, dtype=f64)
        close("mixer chunked vs token by token (G=%s)" % (groups or "H"), m(u), mixer_recurrent(m, u))

    # Attention: sdpa equals the explicit form; teacher and student causal.
    c = dict(TINY, layers=2, seq=40, chunk=16)
    teacher = Teacher(c, "cpu", f64)
    att = teacher.blocks[0].attn
    with torch.no_grad():
        for prm in att.parameters():
            prm.copy_(torch.randn_like(prm) * 0.2)
        u = torch.randn(2, 40, c["d_model"], dtype=f64)
        cos, sin = teacher.cos, teacher.sin
        close("attention sdpa vs explicit", att(u, cos, sin, "sdpa"), att(u, cos, sin, "explicit"))
        student = Student(teacher, "cpu", f64)
        ids = torch.randint(0, c["vocab"], (2, 40))
        ids2 = ids.clone()
        ids2[:, 25:] = (ids2[:, 25:] + 1) % c["vocab"]
        for name, fn in (("teacher", lambda i: teacher.logits(i, "sdpa")), ("student", student)):
            close("%s causal (positions < 25 unchanged)" % name, fn(ids2)[:, :25], fn(ids)[:, :25], 1e-12)
            moved = (fn(ids2)[:, 25:] - fn(ids)[:, 25:]).abs().max().item()
            print("%-58s %.2e %s" % ("  %s later positions do change" % name, moved,
                                     "ok" if moved > 1e-6 else "FAIL"))
            ok = ok and moved > 1e-6

    # Tiny stage-2 and stage-3 steps through the benchmark's own code.
    for dtype in ("fp32", "bf16"):
        small = argparse.Namespace(**vars(args))
        small.device, small.tiny, small.dtype, small.batch = "cpu", True, dtype, 2
        small.steps, small.warmup, small.layers, small.seq = 3, 1, 2, 150
        small.chunk, small.state, small.attn = None, None, "explicit" if dtype == "fp32" else "sdpa"
        results, _ = run_bench(small, ("stage2", "stage3"))
        for r in results:
            good = "error" not in r and r["losses_finite"]
            ok = ok and good
            print("%-58s %s" % (r["name"] + " (cpu)",
                                ("loss %.4g -> %.4g, %.0f tokens/s ok" % (r["loss_first"], r["loss_last"],
                                                                          r["tokens_per_s"]))
                                if good else "FAIL %s" % r.get("error", "non-finite loss")))
    print("check:", "all passed" if ok else "FAILED")
    return ok


# ----------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="correctness checks on the CPU in float64, then exit")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--parts", default="gemm,stage2,stage3", help="comma list of gemm, stage2, stage3")
    ap.add_argument("--json", action="store_true", help="JSON on stdout, the table on stderr")
    ap.add_argument("--tiny", action="store_true", help="tiny dimensions (d 64, 4 heads, vocab 512, T 300)")
    ap.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",
                    help="steps in float32, or bfloat16 autocast over float32 weights")
    ap.add_argument("--attn", choices=("sdpa", "explicit"), default="sdpa")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in the fp32 steps (never in the fp32 GEMM)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=None, help="T (default 2048)")
    ap.add_argument("--layers", type=int, default=None, help="layers (default 24)")
    ap.add_argument("--state", type=int, default=None, help="SSD state N (default 64)")
    ap.add_argument("--chunk", type=int, default=None, help="SSD chunk (default 128)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--clip", type=float, default=0.0, help="global gradient-norm clip (0: none)")
    ap.add_argument("--gemm-n", type=int, default=4096)
    ap.add_argument("--gemm-runs", type=int, default=30)
    ap.add_argument("--gemm-warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    if args.check:
        sys.exit(0 if check(args) else 1)

    if is_cuda(args.device) and not torch.cuda.is_available():
        sys.exit("no CUDA device visible to torch; use --device cpu (with --tiny)")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    env = environment(args)
    results, info = run_bench(args, parts)
    text = table(results, env, info)
    if args.json:
        print(text, file=sys.stderr)
        json.dump(dict(environment=env, config=info, results=results), sys.stdout, indent=1)
        print()
    else:
        print(text)
    sys.exit(1 if any("error" in r for r in results) else 0)


if __name__ == "__main__":
    main()
