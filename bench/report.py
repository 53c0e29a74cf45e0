"""Render BENCHMARKS.md from bench/results/*.json."""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "BENCHMARKS.md"


def load(name):
    p = HERE / "results" / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def load_gpu(name):
    """GPU results live in bench/gpu-results/ (tracked: they cannot be remade without a GPU)."""
    p = HERE / "gpu-results" / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def ok(flag: bool) -> str:
    return "met" if flag else "**not met**"


MODELS = {"LLaMA2-7B": 6.74e9, "Qwen2.5-0.5B": 0.494e9}
TOKENS = 1000 * 64   # per λ point: 1,000 evaluation texts of 64 tokens


def projection(ll, gs) -> list[str]:
    """Memory and time per λ point for the paper's models, from the per-byte and per-FLOP figures
    measured above (bf16 model_dtype: vectors and θ0 stored in bf16)."""
    if not (ll and gs):
        return []
    dev_bw = gs["stream_read_bytes_per_point"] / gs["auto_merge_s_per_point"]   # bytes of θ0 + K vectors / s
    pcie_bw = gs["stream_read_bytes_per_point"] / gs["stream_merge_s_per_point"]  # page cache → GPU
    gpu_flops = gs["forward_tflops"] * 1e12
    k6 = ll["k"]
    cpu_point = ll["grid"]["seconds"] / 10
    cpu_bytes = (k6 + 1) * ll["model"]["bf16_bytes"] + ll["model"]["fp32_bytes"]
    cpu_bw = cpu_bytes / cpu_point   # upper bound on the CPU merge cost: the whole point counted as merge
    gpu_mem = 80e9
    out = ["", "**Projection per λ point** (bf16 weights and vectors; 1,000 texts × 64 tokens per point; from "
           f"the H100 figures above: resident merge {dev_bw / 1e9:.0f} GB/s, streamed {pcie_bw / 1e9:.1f} GB/s, forward "
           f"{gpu_flops / 1e12:.0f} TFLOP/s; and this host's streamed grid, {cpu_point:.0f} s a point for "
           f"{cpu_bytes / 1e9:.1f} GB plus 32 texts on 1.09B params):", "",
           "| model | K | host: 24 GB, CPU only | one 80 GB GPU | 8 GPUs (grid dealt out) |", "|---|---|---|---|---|"]
    for name, p in MODELS.items():
        b = 2 * p
        for k in (2, 6):
            resident = (k + 1) * b + b
            fwd_gpu = 2 * p * TOKENS / gpu_flops
            if resident <= 0.8 * gpu_mem:
                merge, mode, mem = (k + 1) * b / dev_bw, "resident", resident
            else:
                merge, mode, mem = (k + 1) * b / pcie_bw, "streamed", b
            gpu = f"{merge + fwd_gpu:.1f} s ({mode} merge {merge:.2f} s + forward {fwd_gpu:.1f} s); GPU {mem / 1e9:.0f} GB"
            if mode == "streamed":
                gpu += f", host page cache {(k + 1) * b / 1e9:.0f} GB"
            eight = f"{(merge + fwd_gpu) / 8:.2f} s per point of the grid"
            fp32 = 4 * p
            if fp32 + 1.5e9 > 24e9:
                cpu = f"does not fit in float32 ({fp32 / 1e9:.0f} GB); bf16 fits ({b / 1e9:.1f} GB) but its forward is emulated on AVX2"
            else:
                cpu_merge = ((k + 1) * b + fp32) / cpu_bw
                cpu = f"merge ≤ {cpu_merge:.0f} s; RAM {fp32 / 1e9:.1f} GB + a few tensors; forward at this host's float32 rate"
            out.append(f"| {name} | {k} | {cpu} | {gpu} | {eight} |")
    return out


def main() -> None:
    rows = []
    machine = None
    m = load("metrics")
    if m:
        machine = m["machine"]
        rows.append(("Metrics, one λ point", "≥1,000× faster than fairlearn, identical",
                     f"{m['vectorized_one_point_s'] * 1e3:.3f} ms vs fairlearn {m['fairlearn_per_point_s'] * 1e3:.0f} ms "
                     f"= **{m['speedup_one_point']:,.0f}×**; largest difference {m['max_abs_diff_vs_fairlearn']:.1e}",
                     ok(m["speedup_one_point"] >= 1000 and m["max_abs_diff_vs_fairlearn"] < 1e-12)))
        rows.append(("Metrics, 1,000-point sweep", "≥1,000× per point",
                     f"{m['vectorized_1000_points_s'] * 1e3:.0f} ms for 1,000 points vs fairlearn ≈{m['fairlearn_1000_points_s_estimated']:.0f} s "
                     f"(per-point time × 1,000) = **{m['speedup_per_point_in_sweep']:,.0f}×**",
                     ok(m["speedup_per_point_in_sweep"] >= 1000)))
    g = load("merge")
    if g:
        rows.append(("Merge, K=8 on MiniLM (22.7M)", "≥70% of copy bandwidth",
                     f"flat blocked merge {g['flat_merge_ms']:.0f} ms = {g['flat_merge_GBps']:.1f} GB/s vs copy {g['copy_GBps']:.1f} GB/s "
                     f"(**{100 * g['flat_fraction_of_copy_bw']:.0f}%**, timed in turns); one addmv "
                     f"{g.get('addmv_ms', float('nan')):.0f} ms ({100 * g.get('addmv_fraction_of_copy_bw', float('nan')):.0f}%); per-tensor loop {g['per_tensor_loop_ms']:.0f} ms "
                     f"({g['speedup_vs_loop']:.1f}× slower), naive dict {g['naive_dict_ms']:.0f} ms ({g['speedup_vs_naive']:.0f}× slower); "
                     f"one slider move (`add_`) {g['one_slider_move_ms']:.0f} ms",
                     ok(g["flat_fraction_of_copy_bw"] >= 0.7)))
    r = load("remix")
    if r:
        lat, err = r["latency"], r["error"]
        rows.append(("Remix, slider → metrics", "<100 ms server time",
                     f"whole page rerun (estimates for validation and test): median **{lat['page_rerun_median_ms']:.0f} ms**, p95 {lat['page_rerun_p95_ms']:.0f} ms "
                     f"({lat['moves']} moves); estimate + metrics alone {err['estimate_plus_metrics_median_ms']:.2f} ms",
                     ok(lat["page_rerun_median_ms"] < 100)))
        for name in [k for k in err if isinstance(err[k], dict)]:
            e = err[name]
            extra = (f" — default; {err.get('kernel_anchor_points')} stored points, length scale "
                     f"{err.get('kernel_length_scale')}" if name == "kernel" else " — baseline")
            rows.append((f"Remix estimate ({name}{extra}) vs exact, {err['n_random_points']} random λ",
                         "≥98% label agreement, DPD/EOD error < 0.02",
                         f"agreement mean {100 * e['label_agreement_mean']:.1f}% (min {100 * e['label_agreement_min']:.1f}%); "
                         f"DPD error mean {e['abs_dpd_error_mean']:.3f} (max {e['abs_dpd_error_max']:.3f}); "
                         f"EOD error mean {e['abs_eod_error_mean']:.3f} (max {e['abs_eod_error_max']:.3f})",
                         ok(e["label_agreement_mean"] >= 0.98 and e["abs_dpd_error_mean"] < 0.02
                            and e["abs_eod_error_mean"] < 0.02)))
    x = load("exact")
    if x:
        rows.append(("Exact evaluation (merge + forward, test split)", "bf16 ≈2× fp32",
                     f"fp32 {x['fp32']['merge_plus_forward_s']:.1f} s, bf16 {x['bf16']['merge_plus_forward_s']:.1f} s "
                     f"(**{x['bf16_speedup']:.1f}×**, merge alone {x['fp32']['merge_s']:.2f} s); "
                     f"labels agree {100 * x['label_agreement_fp32_bf16']:.1f}%",
                     ok(x["bf16_speedup"] >= 1.5)))
    s = load("scale")
    if s:
        rows.append((f"Streaming merge, {s['params'] / 1e9:.2f}B params bf16, K={s['k']}: memory", "peak RSS <2 GB",
                     f"stream: **{s['stream_peak_rss_GB']:.2f} GB** peak ({s['stream_quarter']['peak_rss_bytes'] / 1e9:.2f} GB at ¼ size); "
                     f"load-everything at ¼ size {s['load_all_quarter_peak_rss_GB']:.2f} GB "
                     f"(≈{s['load_all_full_peak_rss_GB_extrapolated']:.1f} GB at full size)",
                     ok(s["stream_peak_rss_GB"] < 2)))
        rows.append((f"Streaming merge, {s['params'] / 1e9:.2f}B params: throughput, {s['bytes_moved'] / 1e9:.0f} GB moved",
                     "within 2× of the copy-bandwidth bound",
                     f"{s['stream']['seconds']:.0f} s = {s['stream_GBps']:.2f} GB/s = {100 * s['stream_vs_copy_bound']:.0f}% of the "
                     f"{s['copy_bandwidth_GBps']:.1f} GB/s memory-copy bound; the disk alone (read every input once "
                     f"{s['io_bound']['read_GBps']:.2f} GB/s, write + fsync the output {s['io_bound']['write_GBps']:.2f} GB/s) takes "
                     f"{s['io_bound']['seconds']:.0f} s, so the merge runs at **{100 * s['stream_vs_io_bound']:.0f}% of the disk bound**; "
                     f"with the inputs in the page cache (¼ size) {s['stream_quarter_warm_GBps']:.2f} GB/s = "
                     f"{100 * s['stream_quarter_warm_vs_copy_bound']:.0f}% of the copy bound",
                     ok(s["stream_vs_copy_bound"] >= 0.5)))
    en = load("engine")
    if en:
        r = en["runs"]
        rows.append((f"Merge engine, one merge of K vectors on {en['parameters'] / 1e6:.0f}M params (exact evaluation, "
                     "export, recreate)", "peak memory independent of K, ≤ 3 models",
                     f"streamed: peak {r['stream K=2']['peak_in_models']:.1f} models at K=2 and "
                     f"{r['stream K=6']['peak_in_models']:.1f} at K=6 ({r['stream K=2']['seconds']:.1f} s, "
                     f"{r['stream K=6']['seconds']:.1f} s); in-RAM flat path before the engine: "
                     f"{r['flat K=2']['peak_in_models']:.1f} and {r['flat K=6']['peak_in_models']:.1f} models "
                     f"({r['flat K=2']['seconds']:.1f} s, {r['flat K=6']['seconds']:.1f} s); models = float32 copies "
                     "above the process after imports, θ0 and the merged model included",
                     ok(r["stream K=6"]["peak_in_models"] <= 3.0
                        and abs(r["stream K=6"]["peak_in_models"] - r["stream K=2"]["peak_in_models"]) < 0.25)))
    for ld in (load("load"), load("load-think1")):
        if not ld:
            continue
        rows.append((f"Load (AppTest): 8 Remix sessions + 1 exact evaluation, a move every {ld.get('think_s', 0.05):g} s",
                     "isolated, bounded memory, no freeze",
                     f"slider rerun median {ld['slider_ms_median_without_exact']:.0f} ms (p95 {ld['slider_ms_p95_without_exact']:.0f}) "
                     f"with 8 sessions; {ld['slider_moves_during_exact']} moves completed during exact evaluations, median "
                     f"{ld['slider_ms_median_during_exact'] or float('nan'):.0f} ms (p95 {ld['slider_ms_p95_during_exact'] or float('nan'):.0f}); "
                     f"exact evaluation {', '.join(f'{t:.0f}' for t in ld['exact_evaluation_s'])} s; peak RSS "
                     f"{ld['peak_rss_MB_end']:.0f} MB (after warm-up {ld['peak_rss_MB_after_warmup']:.0f} MB); shared caches "
                     f"{'unchanged' if ld['shared_caches_unchanged'] else 'CHANGED'}; {len(ld['errors'])} isolation errors",
                     ok(ld["shared_caches_unchanged"] and not ld["errors"] and ld["slider_moves_during_exact"] > 0)))
    for think, name in ((0.05, "serve-load"), (1.0, "serve-load-think1"), (1.0, "serve-load-think1-gc")):
        sl = load(name)
        if sl and sl.get("slider_ms_p95_during_exact") is not None:
            gc_note = " — with Streamlit's collection after every rerun (the baseline of `runner.postScriptGC = false`)" \
                if sl.get("postScriptGC") else ""
            rows.append((f"Served app: 8 Remix sessions (websocket clients, a move every {think:g} s) + 1 exact evaluation{gc_note}",
                         "slider rerun p95 < 150 ms while an exact evaluation runs; a new session's first page < 3 s",
                         f"alone: median {sl['slider_ms_median_without_exact']:.0f} ms, p95 {sl['slider_ms_p95_without_exact']:.0f} ms; "
                         f"during exact evaluations ({sl['slider_moves_during_exact']} moves): median "
                         f"{sl['slider_ms_median_during_exact']:.0f} ms, p95 **{sl['slider_ms_p95_during_exact']:.0f} ms**; first page "
                         f"Overview {sl['first_page_warm_s/overview']:.2f} s, Remix {sl['first_page_warm_s/remix']:.2f} s (cold "
                         f"{sl['first_page_cold_s']:.1f} s); server peak RSS {sl['server_peak_rss_MB']:.0f} MB",
                         ok(sl["slider_ms_p95_during_exact"] < 150 and sl["first_page_warm_s/overview"] < 3)))
    so = load("serve-soak")
    if so and "dashboard" in so:
        d, g = so["dashboard"], so.get("gc_after_each_rerun")
        rows.append((f"Memory soak of the served dashboard: {d['reruns']} Remix reruns in {d['sessions']} sessions "
                     "one after another (`bench_serve_soak.py`)",
                     "memory bounded with the collection after each rerun off: second-half growth < 5 MB per 1,000 reruns",
                     f"RSS {d['rss_first_sample_MB']:.0f} → {d['rss_end_MB']:.0f} MB (peak {d['rss_peak_MB']:.0f}), second "
                     f"half {d['growth_second_half_MB_per_1000_reruns']:+.1f} MB per 1,000 reruns, rerun median "
                     f"{d['rerun_ms_median']:.0f} ms" + (
                         f"; Streamlit's default (collection after each rerun), same run: RSS "
                         f"{g['rss_first_sample_MB']:.0f} → {g['rss_end_MB']:.0f} MB, "
                         f"{g['growth_second_half_MB_per_1000_reruns']:+.1f} MB per 1,000, rerun median "
                         f"{g['rerun_ms_median']:.0f} ms" if g else ""),
                     ok(d["growth_second_half_MB_per_1000_reruns"] < 5)))
    dp = load("demo-point")
    if dp:
        rows.append(("One `quick` grid point (margins on validation and test) against this machine's "
                     "float32 matrix-product rate (`bench_demo.py --costs-only`)", "compute-bound (no goal set)",
                     f"{dp['point_gflop']:.0f} GFLOP on {dp['examples_per_point']} texts in {dp['eager_point_s']:.1f} s "
                     f"({dp.get('evaluated_in', 'fp32')}); a {dp['gemm_gflops']:.0f} GFLOP/s product would take "
                     f"{dp['point_bound_s']:.1f} s: the point runs at **{1 / dp['eager_over_bound']:.0%}** of the bound "
                     f"(compiled: {dp['compiled_point_s']:.1f} s, compile {dp['compile_s']:.0f} s); the grid's "
                     f"{dp.get('grid_points', '?')} points need ≥ **{dp.get('grid_floor_min', float('nan')):.1f} min** at "
                     "that bound, training not included",
                     "measured"))
    p = load("precompute")
    if p:
        st = p["stages_s"]
        rows.append(("Precompute `quick`, 2 cores", "wall time per stage (no goal set)",
                     ", ".join(f"{k} {v:.0f} s" for k, v in st.items()) +
                     (f"; wall {p['wall_s'] / 60:.1f} min" if p.get("wall_s") else ""),
                     "measured"))
    ll = load("llama")
    if ll:
        gb = 1e9
        size = ll["model"]
        ex, xa, gr = ll["export"], ll["exact"], ll["grid"]
        fl = ll.get("grid_flat_small") or {}
        rows.append((f"Export of a remix, {size['params'] / 1e9:.2f}B-param Llama (bf16, {ll['k']} bf16 vectors)",
                     "peak RSS ≤ model + 1.5 GB; ≥ 80% of the disk bound",
                     f"{ex['seconds']:.0f} s = **{100 * ex['share_of_disk_bound']:.0f}%** of the disk bound "
                     f"({ex['disk_bound_s']:.0f} s: read θ0 and the vectors, write + fsync one model, same run); "
                     f"peak RSS {ex['peak_rss_bytes'] / gb:.2f} GB = model {size['bf16_bytes'] / gb:.2f} GB + "
                     f"{(ex['peak_rss_bytes'] - size['bf16_bytes']) / gb:.2f} GB, of which "
                     f"{ex['peak_file_backed_bytes'] / gb:.2f} GB file-backed (the checkpoint mapped while transformers "
                     f"loads θ0) and {ex['peak_anon_bytes'] / gb:.2f} GB allocated",
                     ok(ex["peak_rss_bytes"] <= size["bf16_bytes"] + 1.5 * 2**30 and ex["share_of_disk_bound"] >= 0.8)))
        rows.append((f"Exact evaluation of a remix on 256 texts, {size['params'] / 1e9:.2f}B params (θ0 float32)",
                     "peak RSS ≤ model + 1.5 GB",
                     f"{xa['seconds']:.0f} s; peak RSS {xa['peak_rss_bytes'] / gb:.2f} GB = model "
                     f"{size['fp32_bytes'] / gb:.2f} GB + {(xa['peak_rss_bytes'] - size['fp32_bytes']) / gb:.2f} GB "
                     f"({xa['peak_file_backed_bytes'] / gb:.2f} GB file-backed, {xa['peak_anon_bytes'] / gb:.2f} GB allocated)",
                     ok(xa["peak_rss_bytes"] <= size["fp32_bytes"] + 1.5 * 2**30)))
        flat = (f"; the in-RAM flat path (load every vector as float32, stack) on a "
                f"{fl['model']['params'] / 1e6:.0f}M-param model of the same shape: peak "
                f"{fl['peak_rss_bytes'] / fl['model']['fp32_bytes']:.1f} float32 models "
                f"(≈{fl['peak_rss_bytes'] / fl['model']['fp32_bytes'] * size['fp32_bytes'] / gb:.0f} GB at full size)"
                if fl.get("peak_rss_bytes") else "")
        rows.append((f"Pipeline λ grid, 10 points × 32 texts, {size['params'] / 1e9:.2f}B params, K={ll['k']}",
                     "peak RSS ≤ model + 1.5 GB",
                     f"{gr['mode']} mode: {gr['seconds']:.0f} s ({gr['seconds'] / 10:.0f} s a point, θ0 stored once in "
                     f"{gr.get('save_theta0_s', float('nan')):.0f} s); peak RSS {gr['peak_rss_bytes'] / gb:.2f} GB = model "
                     f"{size['fp32_bytes'] / gb:.2f} GB + {(gr['peak_rss_bytes'] - size['fp32_bytes']) / gb:.2f} GB "
                     f"({gr['peak_file_backed_bytes'] / gb:.2f} GB file-backed, {gr['peak_anon_bytes'] / gb:.2f} GB allocated)"
                     + flat,
                     ok(gr["peak_rss_bytes"] <= size["fp32_bytes"] + 1.5 * 2**30)))
    dist = load("distributed")
    if dist:
        one, two, ag = dist["one_process"], dist["two_processes"], dist["agreement"]
        rows.append((f"`quick` ({dist['max_rows']} rows) with 2 CPU processes (torchrun, gloo) vs 1",
                     "same artifacts; wall time per stage (2 cores: overhead, not speed-up)",
                     "1 process: " + ", ".join(f"{k} {v:.0f} s" for k, v in one["stages_s"].items())
                     + f" (wall {one['wall_s']:.0f} s); 2 processes: "
                     + ", ".join(f"{k} {v:.0f} s" for k, v in two["stages_s"].items())
                     + f" (wall {two['wall_s']:.0f} s); splits identical: {ag['splits_identical']}; one summary: "
                     f"{two['summaries_printed'] == 1}; vectors differ by dropout noise (max "
                     f"{max(ag['vectors_max_abs_diff'].values()):.1e}), margins by ≤ {ag['margins_max_abs_diff']:.3f}; "
                     f"metrics rows identical: {ag['metrics_same_rows']}, largest difference in a metrics row "
                     f"{ag['metrics_max_abs_diff']:.3f}"
                     + ("" if "degenerate_flags_differing" in ag else " (counts and 0/1 flags included)"),
                     "measured (identical up to dropout noise; identical without dropout: tests/test_distributed.py)"
                     if ag["splits_identical"] and two["summaries_printed"] == 1 and ag["metrics_same_rows"]
                     else "**not met**"))
    ms = load("min_steps")
    if ms:
        a, b = ms["one_epoch"], ms["min_steps"]
        rows.append((f"`quick`'s `train.min_steps` on a {ms['train_rows']}-row subgroup ({ms['group']}, MiniLM)",
                     "the fine-tune beats the majority class on held-out rows of its subgroup",
                     f"one epoch ({a['steps']} steps): accuracy {a['val_accuracy']:.3f}, positive share "
                     f"{a['positive_share']:.2f} ({a['degenerate'] or 'healthy'}); raised to {b['steps']} steps "
                     f"({b['seconds']:.0f} s): accuracy **{b['val_accuracy']:.3f}**, positive share {b['positive_share']:.2f}; "
                     f"majority class {ms['majority_rate']:.3f} ({ms['val_rows']} held-out rows)",
                     ok(not b["degenerate"] and b["val_accuracy"] > ms["majority_rate"])))
    gc = load_gpu("gpu_check_h100")
    if gc:
        q, qs = gc.get("quick_precompute", {}), gc.get("quick_steer", {})
        rows.append((f"GPU end to end ({gc['gpu']}): precompute, exact evaluation, export, recreate",
                     "runs; timings (no goal set)",
                     f"`quick` precompute {q.get('wall_s', float('nan')):.0f} s ("
                     + ", ".join(f"{k} {v:.0f} s" for k, v in q.get("stages_s", {}).items())
                     + f"); exact evaluation of a remix {qs.get('exact_eval_s', float('nan')):.1f} s, export "
                     f"{qs.get('export_s', float('nan')):.1f} s, recreate {qs.get('recreate_s', float('nan')):.1f} s "
                     f"(identical: {qs.get('recreate_identical')}); pico precompute "
                     f"{gc.get('pico_precompute', {}).get('wall_s', float('nan')):.0f} s",
                     "measured" if q.get("ok") and qs.get("recreate_identical") else "**failed**"))
    gs = load_gpu("gpu_scale_h100")
    if gs:
        rows.append((f"Merge per λ point on a GPU ({gs['gpu']}), {gs['params'] / 1e9:.2f}B params bf16, K={gs['k']}",
                     "the merge no slower than the point's forward pass",
                     f"resident on the GPU (`device` mode, chosen automatically): **{gs['auto_merge_s_per_point'] * 1e3:.0f} ms**; "
                     f"streamed from the page cache per point: {gs['stream_merge_s_per_point']:.2f} s; forward pass over 256 × 64 "
                     f"tokens {gs['forward_s_256x64']:.2f} s ({gs['forward_tflops']:.0f} TFLOP/s); both modes give the same "
                     f"weights: {gs['modes_agree']}; GPU memory {gs['auto_gpu_peak_gb']:.1f} GB resident vs "
                     f"{gs['stream_gpu_peak_gb']:.1f} GB streamed",
                     ok(gs["auto_merge_s_per_point"] <= gs["forward_s_256x64"] and gs["modes_agree"])))
    lines = ["# Benchmarks", "",
             "Produced by `make bench` (scripts in `bench/`, raw results in `bench/results/`); every fast",
             "path is measured against its baseline in the same run. Medians of several runs unless noted.", ""]
    if machine:
        lines += [f"Machine: {machine['cores']} cores ({machine['cpu']}), torch {machine['torch']} "
                  f"({machine['torch_threads']} threads), Python {machine['python']}, GPU: {machine['gpu'] or 'none'}.", ""]
    lines += ["| what | goal | measured (baseline) | status |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += projection(ll, gs)
    notes = HERE / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    f = load("findings")
    if f:
        lines += [""] + findings_section(f)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


BEGIN, END = "<!-- findings-calibration: generated by bench/report.py --section findings -->", "<!-- /findings-calibration -->"


def findings_section(f: dict) -> list[str]:
    """The calibration table of the findings' rules (bench_findings.py's result), as markdown."""
    m = f["machine"]
    cpu = f"{m.get('cpu_model', m['cpu'])}, {m['cores']} cores" + (", AVX512-BF16" if m.get("avx512_bf16") else "")
    lines = [BEGIN, "", "### Calibration of the findings (synthetic runs, truth known)", "",
             f"`bench/bench_findings.py` ({f['runs_null']} runs per null, {f['runs_power']} per effect, "
             f"{f['n_boot']} paired resamples, α = {f['alpha']}; {f['seconds'] / 60:.0f} min on {cpu}). Each run draws "
             "every method's predictions from known true and false positive rates per subgroup (three subgroups, "
             "base rates 0.35 / 0.5 / 0.65; independent errors per point); with 3 seeds each seed adds a "
             f"method-specific shift of sd {max(c['seed_sd'] for c in f['cases']):.2f} to a subgroup's rates "
             "(training noise). Goal: " + f["goal"] + ".", "",
             "| finding | truth | test examples | seeds | says *holds* | other verdicts | status |",
             "|---|---|---|---|---|---|---|"]
    for c in f["cases"]:
        others = ", ".join(f"{v} {s:.1%}" for v, s in sorted(c["verdicts"].items()) if v != "holds" and s > 0)
        if c["kind"] == "null":
            status = "met" if c["holds"] <= f["alpha"] and (not c["scenario"].startswith("constant") or c["holds"] == 0) \
                else "**not met**"
            what = "false holds"
        else:
            status, what = "power", "power"
        lines.append(f"| ({c['finding']}) | {c['truth']} | {c['n_test']:,} | {c['seeds']} | "
                     f"**{c['holds']:.1%}** ({what}, {c['runs']} runs) | {others} | {status} |")
    lines += ["", END]
    return lines


def render_section(name: str) -> None:
    """Replace one generated section of BENCHMARKS.md (between its markers) from its result file."""
    if name != "findings":
        raise SystemExit(f"unknown section {name!r}; sections: findings")
    f = load("findings")
    if f is None:
        raise SystemExit("no bench/results/findings.json: run bench/bench_findings.py first")
    text = OUT.read_text()
    block = "\n".join(findings_section(f))
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    OUT.write_text(text)
    print(f"wrote the {name} section of {OUT}")


if __name__ == "__main__":
    import sys
    if len(sys.argv) > 2 and sys.argv[1] == "--section":
        render_section(sys.argv[2])
    else:
        main()
