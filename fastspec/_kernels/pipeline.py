"""Block pipelines, each one compiled call: frame -> FFT -> post-process, and spectra -> inverse FFT -> overlap-add.

A driver walks its share of a transform (``tasks``) block by block: frames are windowed into the
caller's ``frames`` scratch, FFTW transforms them through its new-array execute function
(``execute(plan, in_address, out_address)``, thread-safe) into ``spec``, and the post kernel writes
the wanted form into the output. One block's scratch stays in cache, and a thread runs its whole
share without coming back to Python or taking the GIL: with Python in the loop, two threads
contended for the GIL at every block and the second one often waited out CPython's 5 ms switch
interval (a 60 s spectrogram took 14.6 ms on two threads in one process and 8.4 ms in another).

Geometry arrays (int64): ``framing = [hop, offset, pad_mode, win_lo, win_hi]`` (frame ``t`` starts
at sample ``t * hop - offset``; only ``window[win_lo:win_hi]`` is non-zero). Plans come as
``(full, rest)``: the plan for a full block of ``len(frames)`` rows and the one for the last,
shorter chunk. Forward tasks are ``[item, first_frame, n_frames]`` rows. Overlap-add works on
segments ``[first_frame, stop_frame, edge_base]`` (see :class:`fastspec._engine.OverlapAdd`): a
segment's first ``n_edge`` frames go to its edge buffer, whose sample 0 is ``edge_base`` of the
signal (-1: no edge buffer), and every other frame straight into the signal.
"""

from .._numba import serial
from .elementwise import copy_rows, magnitude, magnitude_pow, power
from .filterbank import power_filterbank
from .framing import frame_window
from .overlap_add import overlap_add
from .phase import magnitude_error, project, project_tracked


@serial
def _forward_block(y, first, valid, framing, window, execute, plans, frames, spec):
    """Window frames ``first ... first + valid - 1`` of ``y`` and transform them; return their spectra."""
    frame_window(y, first, framing[0], framing[1], framing[2], window, framing[3], framing[4], frames[:valid])
    plan = plans[0] if valid == frames.shape[0] else plans[1]
    execute(plan, frames.ctypes.data, spec.ctypes.data)
    return spec[:valid]


@serial
def forward_complex(y2, tasks, framing, window, execute, plans, frames, spec, out):
    """``out[item, t] = STFT(y2[item])[t]`` for the frames of ``tasks`` (``out`` frames-major)."""
    for i in range(tasks.shape[0]):
        item, first, valid = tasks[i, 0], tasks[i, 1], tasks[i, 2]
        block = _forward_block(y2[item], first, valid, framing, window, execute, plans, frames, spec)
        copy_rows(block, out[item, first:first + valid])


@serial
def forward_spectrogram(y2, tasks, framing, window, execute, plans, frames, spec, exponent, out):
    """``out[item, t] = |STFT(y2[item])[t]| ** exponent`` (1 and 2 take their exact fast paths)."""
    for i in range(tasks.shape[0]):
        item, first, valid = tasks[i, 0], tasks[i, 1], tasks[i, 2]
        block = _forward_block(y2[item], first, valid, framing, window, execute, plans, frames, spec)
        rows = out[item, first:first + valid]
        if exponent == 1:
            magnitude(block, rows)
        elif exponent == 2:
            power(block, rows)
        else:
            magnitude_pow(block, exponent, rows)


@serial
def forward_filterbank(y2, tasks, framing, window, execute, plans, frames, spec, power_code, exponent,
                       starts, offsets, weights, energy_col, energy_scale, out):
    """Filterbank energies of every frame of ``tasks`` (see :func:`.filterbank.power_filterbank`)."""
    for i in range(tasks.shape[0]):
        item, first, valid = tasks[i, 0], tasks[i, 1], tasks[i, 2]
        block = _forward_block(y2[item], first, valid, framing, window, execute, plans, frames, spec)
        power_filterbank(block, power_code, exponent, starts, offsets, weights, energy_col, energy_scale,
                         out[item, first:first + valid])


@serial
def _overlap_add_segment(rows, first, window, scale, hop, offset, segment, n_edge, signal, edge):
    """Overlap-add frames ``first ...`` of one segment: its edge frames into ``edge``, the rest into ``signal``."""
    n_rows = rows.shape[0]
    n_head = 0
    base = segment[2]
    if base >= 0:
        n_head = min(n_rows, max(0, segment[0] + n_edge - first))
    if n_head > 0:
        reach = min(edge.shape[0], signal.shape[0] - base)
        if reach > 0:
            overlap_add(rows[:n_head], window, scale, first - segment[0], hop, 0, edge[:reach])
    if n_head < n_rows:
        overlap_add(rows[n_head:], window, scale, first + n_head, hop, offset, signal)


@serial
def inverse(spectra, tasks, segments, n_used, hop, offset, n_edge, window, scale, execute, plans, spec, frames,
            signals, edges):
    """Inverse FFT and overlap-add of frames-major ``spectra`` into ``signals``, task ``[item, segment]`` by task.

    Frames from ``n_used`` on are left out (the ISTFT's ``length`` cut).
    """
    block = spec.shape[0]
    for i in range(tasks.shape[0]):
        item, j = tasks[i, 0], tasks[i, 1]
        segment = segments[j]
        for first in range(segment[0], segment[1], block):
            valid = min(block, segment[1] - first)
            n_add = min(valid, n_used - first)
            if n_add <= 0:
                break
            copy_rows(spectra[item, first:first + valid], spec[:valid])
            execute(plans[0] if valid == block else plans[1], spec.ctypes.data, frames.ctypes.data)
            _overlap_add_segment(frames[:n_add], first, window, scale, hop, offset, segment, n_edge, signals[item],
                                 edges[item, j])


@serial
def griffin_lim_pass(source, mag, prev, tasks, segments, n_used, framing, n_edge, window, scale, coef, eps, mode,
                     execute_r2c, plans_r2c, execute_c2r, plans_c2r, scratch, targets, edges, err):
    """One fused Griffin-Lim iteration over the tasks ``[item, segment]``.

    ``mode`` 0: re-analyse ``source``, project onto the magnitudes ``mag`` (momentum ``coef``,
    memory ``prev``), inverse-transform and overlap-add into ``targets``; 1: the same, adding each
    task's squared errors into ``err[item, segment]``; 2: only those errors. ``scratch`` is
    ``(frames, spec, coefficients, inverse frames)`` of one block.
    """
    frames, spec, coeffs, wave = scratch
    block = frames.shape[0]
    for i in range(tasks.shape[0]):
        item, j = tasks[i, 0], tasks[i, 1]
        segment = segments[j]
        for first in range(segment[0], segment[1], block):
            valid = min(block, segment[1] - first)
            analysed = _forward_block(source[item], first, valid, framing, window, execute_r2c, plans_r2c, frames,
                                      spec)
            rows = slice(first, first + valid)
            if mode == 2:
                magnitude_error(analysed, mag[item, rows], err[item, j])
                continue
            if mode == 1:
                project_tracked(analysed, mag[item, rows], prev[item, rows], coef, eps, coeffs[:valid], err[item, j])
            else:
                project(analysed, mag[item, rows], prev[item, rows], coef, eps, coeffs[:valid])
            n_add = min(valid, n_used - first)
            if n_add > 0:
                execute_c2r(plans_c2r[0] if valid == block else plans_c2r[1], coeffs.ctypes.data, wave.ctypes.data)
                _overlap_add_segment(wave[:n_add], first, window, scale, framing[0], framing[1], segment, n_edge,
                                     targets[item], edges[item, j])
