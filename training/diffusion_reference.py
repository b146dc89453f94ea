"""Reference outputs from transformers' diffusion_gemma for Gannet's block-diffusion runtime (#18).

Writes into --out:
  diffusion-tiny.gguf        a tiny random DiffusionGemma-shaped model (dense FFN: the MoE experts
                             are zeroed so the branch adds nothing; see diffusion_gguf.py), f32
  decoder.json               the scenario below; decoder.step{0,1,2}.logits.f32 ([C][V] float32 LE)
  sampler.json               EntropyBoundSampler / LinearTemperatureScheduleLogitsProcessor /
                             StableAndConfidentStoppingCriteria decisions on recorded random logits
                             (sampler.logits.f32: [n_steps][C][V] raw logits)
  provenance.json            versions, device, and the numpy-vs-HF differences

Decoder scenario (as DiffusionGemmaGenerationMixin.generate runs it):
  step 0: encoder over the prefix at positions 0..P-1 (writes the cache); decoder over canvas0 at
          positions P..P+C-1, no self-conditioning -> logits L0
  step 1: decoder over canvas1 at P.., self-conditioning logits = L0 / T(48) (the processed logits
          of step 0) -> L1
  step 2: encoder over argmax(L1) at P.. (the appended canvas); decoder over canvas2 at P+C.. -> L2

HF runs on the CPU in float32 (eager attention), from DiffusionGemmaEncoderTextModel and
DiffusionGemmaDecoderModel (the vision tower of DiffusionGemmaForBlockDiffusion is not needed for
text and needs a vision config); the lm head is the tied embedding with the 30.0 softcap, as in
DiffusionGemmaForBlockDiffusion.forward. diffusion_numpy.py (float64) must agree with HF; the
difference is logged. --numpy-only writes the same files from the numpy forward and a numpy port of
the sampler (for development without torch; provenance says so).

    python3 training/diffusion_reference.py --out OUT [--numpy-only]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import diffusion_gguf  # noqa: E402
import export_hf  # noqa: E402
from diffusion_gguf import DiffusionHParams  # noqa: E402
from diffusion_numpy import NumpyDiffusion, softmax  # noqa: E402

SEED = 1234
PREFIX_LEN = 7
HP = DiffusionHParams(n_vocab=384, n_embd=64, n_layer=2, n_ff=96, n_head=4, n_head_kv=2, head_dim=16,
                      rms_eps=1e-6, context_length=512, canvas_length=32, sliding_window=512)
# Generation defaults (DiffusionGemmaGenerationConfig._get_default_generation_params).
MAX_STEPS, T_MIN, T_MAX, ENTROPY_BOUND, STABILITY, CONFIDENCE = 48, 0.4, 0.8, 0.1, 1, 0.005
SAMPLER_VOCAB = 64
SAMPLER_BOOST = [0.0, 2.0, 4.0, 8.0, 16.0, 40.0, 40.0, 40.0]


def temperature(cur_step: int) -> float:
    return T_MIN + (T_MAX - T_MIN) * (cur_step / MAX_STEPS)


def text_config_kwargs():
    return dict(vocab_size=HP.n_vocab, hidden_size=HP.n_embd, intermediate_size=HP.n_ff,
                num_hidden_layers=HP.n_layer, num_attention_heads=HP.n_head,
                num_key_value_heads=HP.n_head_kv, head_dim=HP.head_dim, rms_norm_eps=HP.rms_eps,
                max_position_embeddings=HP.context_length, sliding_window=HP.sliding_window,
                hidden_activation="gelu_pytorch_tanh", num_experts=2, top_k_experts=1,
                moe_intermediate_size=8, global_head_dim=HP.head_dim,
                num_global_key_value_heads=HP.n_head_kv)


def init_std(name: str) -> tuple[float, float]:
    if name.endswith("norm.weight"):
        return 1.0, 0.1  # Gemma 4 norms multiply by w
    if name.endswith("embed_tokens.weight"):
        return 0.0, 0.5
    if name.endswith(("q_proj.weight", "k_proj.weight")):
        return 0.0, 0.15
    if name.endswith(("router.scale", "per_expert_scale")):
        return 1.0, 0.0
    return 0.0, 0.1


def build_hf(log):
    import torch
    from transformers.models.diffusion_gemma import modeling_diffusion_gemma as mdg
    from transformers.models.diffusion_gemma.configuration_diffusion_gemma import DiffusionGemmaConfig
    try:
        config = DiffusionGemmaConfig(text_config=text_config_kwargs(), vision_config=None,
                                      canvas_length=HP.canvas_length)
    except Exception as e:  # strict configs of some versions: set the global-layer fields afterwards
        log(f"config with global_head_dim kwargs failed ({e}); setting the attributes instead")
        kw = text_config_kwargs()
        extra = {k: kw.pop(k) for k in ("global_head_dim", "num_global_key_value_heads")}
        config = DiffusionGemmaConfig(text_config=kw, vision_config=None, canvas_length=HP.canvas_length)
        for k, v in extra.items():
            setattr(config.text_config, k, v)
    tc = config.text_config
    for c in (config, tc):
        try:
            c._attn_implementation = "eager"
        except Exception as e:  # a read-only property in some versions: sdpa is exact enough in f32
            log(f"could not set eager attention on {type(c).__name__}: {e}")
    log(f"layer_types={tc.layer_types} rope={tc.rope_parameters} sliding_window={tc.sliding_window}")
    decoder = mdg.DiffusionGemmaDecoderModel(config).float().eval()
    encoder = mdg.DiffusionGemmaEncoderTextModel(tc).float().eval()
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in decoder.named_parameters():
            mean, std = init_std(name)
            p.copy_(torch.randn(p.shape, generator=gen) * std + mean)
            if name.endswith("experts.down_proj"):
                p.zero_()  # dense FFN: the MoE branch contributes RMSNorm(0) = 0
        dec_sd = decoder.state_dict()
        enc_sd = encoder.state_dict()
        missing = [k for k in enc_sd if k not in dec_sd]
        if [k for k in missing if not k.endswith("inv_freq")]:
            raise RuntimeError(f"encoder parameters with no decoder twin: {missing}")
        encoder.load_state_dict({k: dec_sd[k] for k in enc_sd if k in dec_sd}, strict=False)
    for i, layer in enumerate(decoder.layers):
        a = layer.self_attn
        log(f"layer {i}: sliding={a.is_sliding} head_dim={a.head_dim} k_out={a.k_proj.out_features} "
            f"v_proj={'yes' if a.v_proj is not None else 'no (V=K)'}")
        if a.head_dim != HP.head_dim or a.k_proj.out_features != HP.n_head_kv * HP.head_dim:
            raise RuntimeError(f"layer {i}: head_dim {a.head_dim}, k_proj {a.k_proj.out_features}: "
                               f"global_head_dim / num_global_key_value_heads were not applied")
        if a.is_sliding != diffusion_gguf.layer_is_sliding(HP, i):
            raise RuntimeError(f"layer {i}: HF sliding={a.is_sliding}, diffusion_gguf says otherwise")
    return config, encoder, decoder


class HFRunner:
    """Encoder + decoder sharing a DynamicCache, as generate() drives them."""

    def __init__(self, config, encoder, decoder):
        import torch
        from transformers import DynamicCache
        self.torch = torch
        self.encoder, self.decoder = encoder, decoder
        self.cache = DynamicCache(config=config.text_config)
        self.hidden = []  # per decode call: [n_layers + 1, C, n_embd] (embeddings after self-conditioning, each layer)

    def encode(self, tokens, pos0):
        t = self.torch
        with t.no_grad():
            ids = t.tensor([tokens])
            pos = t.arange(pos0, pos0 + len(tokens)).unsqueeze(0)
            out = self.encoder(input_ids=ids, past_key_values=self.cache, position_ids=pos)
            self.cache = out.past_key_values

    def decode(self, canvas, pos0, sc_logits=None):
        t = self.torch
        with t.no_grad():
            ids = t.tensor([canvas])
            pos = t.arange(pos0, pos0 + len(canvas), dtype=t.int32).unsqueeze(0)
            sc = None if sc_logits is None else t.from_numpy(np.asarray(sc_logits, np.float32))[None]
            kw = dict(decoder_input_ids=ids, past_key_values=self.cache, self_conditioning_logits=sc,
                      decoder_position_ids=pos)
            try:
                out = self.decoder(**kw, output_hidden_states=True)
            except Exception as e:  # the hidden states are a debugging aid only
                print(f"note: output_hidden_states refused ({e}); running without", flush=True)
                out = self.decoder(**kw)
            h = out.last_hidden_state
            if getattr(out, "hidden_states", None) is not None:  # for locating a mismatch layer by layer
                self.hidden.append(np.stack([x[0].float().numpy() for x in out.hidden_states]))
            logits = h @ self.decoder.embed_tokens.weight.T  # tied lm_head
            logits = logits.float() / 30.0
            logits = t.tanh(logits) * 30.0
            return logits[0].numpy()


def check_full_model(config, decoder, stored, prov, log):
    """DiffusionGemmaForBlockDiffusion (with a tiny vision tower, unused) on the same weights must
    give the components' step-0 logits; logged, not a fixture."""
    import torch
    from transformers import DynamicCache
    from transformers.models.diffusion_gemma import modeling_diffusion_gemma as mdg
    from transformers.models.diffusion_gemma.configuration_diffusion_gemma import DiffusionGemmaConfig
    full_cfg = DiffusionGemmaConfig(text_config=config.text_config.to_dict(),
                                    vision_config={"model_type": "gemma4_vision", "hidden_size": 16,
                                                   "intermediate_size": 32, "num_hidden_layers": 1,
                                                   "num_attention_heads": 2, "num_key_value_heads": 2,
                                                   "head_dim": 8},
                                    canvas_length=HP.canvas_length)
    model = mdg.DiffusionGemmaForBlockDiffusion(full_cfg).float().eval()
    dec_sd = decoder.state_dict()
    model.model.decoder.load_state_dict(dec_sd)
    enc = model.model.encoder.language_model
    enc.load_state_dict({k: v for k, v in dec_sd.items() if k in enc.state_dict()}, strict=False)
    model.lm_head.weight.data.copy_(dec_sd["embed_tokens.weight"])
    rng = np.random.default_rng(SEED + 1)
    prefix = [int(x) for x in rng.integers(0, HP.n_vocab, PREFIX_LEN)]
    canvas = [int(x) for x in rng.integers(0, HP.n_vocab, HP.canvas_length)]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([prefix]), decoder_input_ids=torch.tensor([canvas]),
                    past_key_values=DynamicCache(config=full_cfg.text_config))
    full = out.logits[0].float().numpy()
    ref = NumpyDiffusion(HP, stored)
    ref.encode(prefix, 0)
    comp = ref.decode(canvas, PREFIX_LEN)
    rel = float(np.max(np.abs(full - comp)) / np.max(np.abs(comp)))
    prov["full_model_vs_numpy_step0_rel"] = rel
    log(f"DiffusionGemmaForBlockDiffusion vs numpy, step 0: max rel diff {rel:.3g}")


def decoder_scenario(runner, rng):
    """Runs the three steps on `runner` (HF or numpy); returns (json dict, [L0, L1, L2])."""
    v, c, p = HP.n_vocab, HP.canvas_length, PREFIX_LEN
    prefix = [int(x) for x in rng.integers(0, v, p)]
    canvases = [[int(x) for x in rng.integers(0, v, c)] for _ in range(3)]
    runner.encode(prefix, 0)
    l0 = runner.decode(canvases[0], p)
    sc = (l0 / np.float32(temperature(MAX_STEPS))).astype(np.float32)
    l1 = runner.decode(canvases[1], p, sc)
    appended = [int(x) for x in np.argmax(l1, axis=-1)]
    runner.encode(appended, p)
    l2 = runner.decode(canvases[2], p + c)
    doc = {"prefix": prefix, "canvas_length": c, "n_vocab": v,
           "steps": [
               {"encode": {"tokens": prefix, "pos": 0}, "canvas": canvases[0], "pos": p, "self_cond_from": None},
               {"encode": None, "canvas": canvases[1], "pos": p, "self_cond_from": 0,
                "self_cond_temperature": temperature(MAX_STEPS)},
               {"encode": {"tokens": appended, "pos": p}, "canvas": canvases[2], "pos": p + c,
                "self_cond_from": None}]}
    return doc, [np.asarray(x, np.float32) for x in (l0, l1, l2)]


def sampler_logits(rng):
    c, v = HP.canvas_length, SAMPLER_VOCAB
    target = rng.integers(0, v, c)
    out = []
    for i, boost in enumerate(SAMPLER_BOOST):
        x = rng.standard_normal((c, v)).astype(np.float32) * np.float32(1.5)
        t = target if i >= 4 else rng.integers(0, v, c)
        x[np.arange(c), t] += np.float32(boost)
        out.append(x)
    return np.stack(out)


def entropy_np(logits):
    lp = logits - np.max(logits, axis=-1, keepdims=True)
    lp = lp - np.log(np.sum(np.exp(lp), axis=-1, keepdims=True))
    return -np.sum(np.exp(lp) * lp, axis=-1)


def sampler_decisions_numpy(raw):
    """The numpy port: same outputs as sampler_decisions_hf."""
    steps, history = [], None
    for i in range(raw.shape[0]):
        cur = MAX_STEPS - i
        temp = temperature(cur)
        proc = (raw[i] / np.float32(temp)).astype(np.float32)
        h = entropy_np(proc.astype(np.float64)).astype(np.float32)
        order = np.argsort(h, kind="stable")
        cum = np.cumsum(h[order])
        sel = (cum - h[order]) <= ENTROPY_BOUND
        mask = np.zeros(len(h), bool)
        mask[order] = sel
        margin = np.empty(len(h))
        margin[order] = cum - h[order] - ENTROPY_BOUND
        argmax = np.argmax(proc, axis=-1)
        stable = history is not None and np.array_equal(history, argmax)
        history = argmax
        confident = float(np.mean(h)) < CONFIDENCE
        steps.append(dict(cur_step=cur, temperature=temp, accept=mask, margin=margin, argmax=argmax,
                          entropy=h, stop=bool(stable and confident), mean_entropy=float(np.mean(h))))
    return steps


def sampler_decisions_hf(raw):
    import torch
    from transformers.models.diffusion_gemma import generation_diffusion_gemma as g
    proc_fn = g.LinearTemperatureScheduleLogitsProcessor(t_min=T_MIN, t_max=T_MAX, max_denoising_steps=MAX_STEPS)
    sampler = g.EntropyBoundSampler(g.EntropyBoundSamplerConfig(entropy_bound=ENTROPY_BOUND),
                                    canvas_length=HP.canvas_length, vocab_size=SAMPLER_VOCAB,
                                    max_denoising_steps=MAX_STEPS)
    stopper = g.StableAndConfidentStoppingCriteria(stability_threshold=STABILITY, confidence_threshold=CONFIDENCE)
    steps = []
    canvas = torch.zeros((1, HP.canvas_length), dtype=torch.long)
    for i in range(raw.shape[0]):
        cur = MAX_STEPS - i
        scores = torch.from_numpy(raw[i])[None]
        proc = proc_fn(None, scores, cur_step=torch.tensor(cur, dtype=torch.int32))
        denoised = torch.argmax(proc, dim=-1)  # any canvas: only the mask is compared
        sampler.accept_canvas(canvas, denoised, proc, cur)
        mask = sampler.accepted_token_mask
        h = torch.distributions.Categorical(logits=proc).entropy()[0]
        sh, idx = torch.sort(h)
        cum = torch.cumsum(sh, dim=-1)
        margin = torch.empty_like(h)
        margin[idx] = cum - sh - ENTROPY_BOUND
        argmax = torch.argmax(proc, dim=-1)
        stop = stopper(argmax, proc)
        steps.append(dict(cur_step=cur, temperature=float(temperature(cur)), accept=mask[0].numpy(),
                          margin=margin.double().numpy(), argmax=argmax[0].numpy(), entropy=h.numpy(),
                          stop=bool(stop[0]), mean_entropy=float(h.mean())))
    return steps


def write_sampler(out, raw, steps):
    raw.astype("<f4").tofile(os.path.join(out, "sampler.logits.f32"))
    doc = {"max_denoising_steps": MAX_STEPS, "t_min": T_MIN, "t_max": T_MAX, "entropy_bound": ENTROPY_BOUND,
           "stability_threshold": STABILITY, "confidence_threshold": CONFIDENCE,
           "canvas_length": HP.canvas_length, "n_vocab": SAMPLER_VOCAB, "n_steps": int(raw.shape[0]),
           "steps": [{"cur_step": s["cur_step"], "temperature": s["temperature"],
                      "accept": [int(x) for x in s["accept"]], "margin": [float(x) for x in s["margin"]],
                      "argmax": [int(x) for x in s["argmax"]], "entropy": [float(x) for x in s["entropy"]],
                      "mean_entropy": s["mean_entropy"], "stop": s["stop"]} for s in steps]}
    with open(os.path.join(out, "sampler.json"), "w") as f:
        json.dump(doc, f)


def gguf_weights(decoder_sd_np):
    """GGUF-named float32 arrays, as diffusion_gguf.export stores them."""
    out = {}
    for k, v in decoder_sd_np.items():
        g = diffusion_gguf.gguf_name(k)
        if g is not None:
            out[g] = v
    return out


def random_state_numpy(rng):
    """For --numpy-only: decoder-named random weights (dense)."""
    hp, sd = HP, {}
    d, kv, qd = hp.n_embd, hp.n_head_kv * hp.head_dim, hp.n_head * hp.head_dim

    def mat(name, shape):
        mean, std = init_std(name)
        sd[name] = (rng.standard_normal(shape) * std + mean).astype(np.float32)

    mat("embed_tokens.weight", (hp.n_vocab, d))
    mat("norm.weight", (d,))
    mat("self_conditioning.pre_norm.weight", (d,))
    for n, s in (("gate", (hp.n_ff, d)), ("up", (hp.n_ff, d)), ("down", (d, hp.n_ff))):
        mat(f"self_conditioning.{n}_proj.weight", s)
    for i in range(hp.n_layer):
        p = f"layers.{i}."
        for n, s in (("q_proj", (qd, d)), ("k_proj", (kv, d)), ("o_proj", (d, qd))):
            mat(p + f"self_attn.{n}.weight", s)
        if diffusion_gguf.layer_is_sliding(hp, i):
            mat(p + "self_attn.v_proj.weight", (kv, d))
        for n in ("self_attn.q_norm", "self_attn.k_norm"):
            mat(p + n + ".weight", (hp.head_dim,))
        for n in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                  "post_feedforward_layernorm_1", "post_feedforward_layernorm"):
            mat(p + n + ".weight", (d,))
        for n, s in (("gate", (hp.n_ff, d)), ("up", (hp.n_ff, d)), ("down", (d, hp.n_ff))):
            mat(p + f"mlp.{n}_proj.weight", s)
    return sd


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--numpy-only", action="store_true", help="no torch: numpy forward and sampler port")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    prov = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "python": platform.python_version(), "numpy": np.__version__, "seed": SEED,
            "source": "numpy port (development only)" if args.numpy_only else "transformers diffusion_gemma"}
    failures = []

    def log(msg):
        print(msg, flush=True)

    rng = np.random.default_rng(SEED)
    if args.numpy_only:
        sd = random_state_numpy(rng)
    else:
        try:
            import torch
            import transformers
            torch.manual_seed(SEED)
            prov.update(torch=torch.__version__, transformers=transformers.__version__,
                        gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                        reference_device="cpu (float32)")
            log(json.dumps(prov))
            config, encoder, decoder = build_hf(log)
            sd = {k: v.detach().float().numpy().copy() for k, v in decoder.named_parameters()}
            sd.update({k: v.detach().float().numpy().copy() for k, v in decoder.named_buffers()
                       if k.endswith("layer_scalar")})
            log("decoder parameters: " + " ".join(f"{k}{list(v.shape)}" for k, v in sd.items()))
            diffusion_gguf.check_dense(sd)
            [diffusion_gguf.gguf_name(k) for k in sd]  # unknown names raise here, inside the try
        except Exception:  # the log says why; the sampler part below still runs against HF
            traceback.print_exc()
            failures.append("building the HF model failed (see log): decoder fixtures are numpy's")
            args.hf_model_failed = True
            sd = random_state_numpy(rng)
    gguf_path = os.path.join(args.out, "diffusion-tiny.gguf")
    stored = diffusion_gguf.export(HP, sd, gguf_path, name="gannet-test-diffusion",
                                   vocab=export_hf.make_byte_vocab(HP.n_vocab))
    log(f"wrote {gguf_path} ({len(stored)} tensors)")
    hf_model = not args.numpy_only and not getattr(args, "hf_model_failed", False)
    if hf_model:
        try:
            check_full_model(config, decoder, stored, prov, log)
        except Exception:  # informative only: the components are what the fixtures use
            traceback.print_exc()
            log("note: the full DiffusionGemmaForBlockDiffusion check did not run")

    # Decoder logits: the reference runner, and numpy on the same weights (the same rng draws).
    scen_seed = SEED + 1
    np_doc, np_logits = decoder_scenario(NumpyDiffusion(HP, stored), np.random.default_rng(scen_seed))
    if not hf_model:
        doc, logits = np_doc, np_logits
    else:
        try:
            runner = HFRunner(config, encoder, decoder)
            doc, logits = decoder_scenario(runner, np.random.default_rng(scen_seed))
            try:
                for i, hs in enumerate(runner.hidden):
                    hs.astype("<f4").tofile(os.path.join(args.out, f"debug.step{i}.hidden.f32"))
                k0 = runner.cache.layers[0].keys[0].float().numpy()
                k0.astype("<f4").tofile(os.path.join(args.out, "debug.cache.layer0.keys.f32"))
                prov["debug"] = {"hidden_shape": list(runner.hidden[0].shape) if runner.hidden else None,
                                 "cache_layer0_keys_shape": list(k0.shape),
                                 "text_config": {k: (v if isinstance(v, (int, float, str, bool, list, dict,
                                                                         type(None))) else str(v))
                                                 for k, v in config.text_config.to_dict().items()}}
            except Exception:  # debugging aids only
                traceback.print_exc()
            for i, (a, b) in enumerate(zip(logits, np_logits)):
                rel = float(np.max(np.abs(a - b)) / max(1e-30, float(np.max(np.abs(a)))))
                prov[f"numpy_vs_hf_step{i}_rel"] = rel
                log(f"step {i}: numpy vs HF max rel diff {rel:.3g}")
                if rel > 1e-4:
                    failures.append(f"step {i}: numpy forward differs from HF (rel {rel:.3g})")
            if doc["steps"][2]["encode"]["tokens"] != np_doc["steps"][2]["encode"]["tokens"]:
                log("note: the appended argmax canvas differs between numpy and HF; HF's is used")
        except Exception:
            traceback.print_exc()
            failures.append("HF decoder scenario raised (see log); numpy logits written instead")
            doc, logits = np_doc, np_logits
            prov["decoder_source"] = "numpy (HF failed)"
    with open(os.path.join(args.out, "decoder.json"), "w") as f:
        json.dump(doc, f)
    for i, x in enumerate(logits):
        x.astype("<f4").tofile(os.path.join(args.out, f"decoder.step{i}.logits.f32"))

    raw = sampler_logits(np.random.default_rng(SEED + 2))
    np_steps = sampler_decisions_numpy(raw)
    steps = np_steps
    if not args.numpy_only:
        try:
            steps = sampler_decisions_hf(raw)
            for a, b in zip(steps, np_steps):
                if not np.array_equal(a["accept"], b["accept"]) or a["stop"] != b["stop"]:
                    log(f"note: numpy sampler port differs from HF at cur_step {a['cur_step']}")
        except Exception:
            traceback.print_exc()
            failures.append("HF sampler raised (see log); numpy decisions written instead")
            prov["sampler_source"] = "numpy (HF failed)"
    write_sampler(args.out, raw, steps)
    log("sampler: accepted per step " + str([int(np.sum(s["accept"])) for s in steps]) +
        " stop " + str([s["stop"] for s in steps]))
    prov["failures"] = failures
    with open(os.path.join(args.out, "provenance.json"), "w") as f:
        json.dump(prov, f, indent=1)
    for x in failures:
        log("FAILED: " + x)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
