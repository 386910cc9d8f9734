import numpy as np
import pytest
import soundfile
import soundfile as sf

import fastspec
from fastspec.cli import main


def test_demo_writes_pictures_and_inversions(tmp_path, capsys):
    assert main(["demo", "--outdir", str(tmp_path), "--duration", "1.5"]) == 0
    out = capsys.readouterr().out
    original, sr = soundfile.read(tmp_path / "example.wav")
    np.testing.assert_allclose(original, fastspec.data.example(22050, 1.5), atol=1e-4)  # 16-bit WAV
    for name in ("inverted_pghi_griffin_lim.wav", "inverted_from_mel.wav"):
        y, sr_out = soundfile.read(tmp_path / name)
        assert sr_out == sr == 22050 and y.shape == original.shape
    import matplotlib.image

    for name in ("spectrogram.png", "melspectrogram.png"):
        picture = matplotlib.image.imread(tmp_path / name)
        assert picture.shape[:2] == (400, 1000)
        assert picture[..., :3].std() > 0.1  # a spectrogram, not a blank canvas
    # PGHI + fast Griffin-Lim on this signal is far better than -20 dB.
    line = next(s for s in out.splitlines() if s.startswith("PGHI"))
    assert float(line.split("convergence")[1].split("dB")[0]) < -20


def test_invert_command_round_trip(tmp_path, capsys):
    y = fastspec.data.music(22050, 1.0)
    S = fastspec.spectrogram(y, n_fft=1024, hop_length=256)
    np.savez(tmp_path / "music.npz", feature=S, sr=22050, n_fft=1024, hop_length=256, kind="magnitude")
    out_wav = tmp_path / "music.wav"
    assert main(["invert", str(tmp_path / "music.npz"), "-o", str(out_wav)]) == 0
    assert "spectral convergence" in capsys.readouterr().out
    back, sr = soundfile.read(out_wav, dtype="float32")
    # Without a length, the inverse covers (n_frames - 1) * hop samples, as librosa's istft.
    assert sr == 22050 and back.shape == ((S.shape[-1] - 1) * 256,)
    assert fastspec.spectral_convergence(S, back, n_fft=1024, hop_length=256) < -15
    assert main(["invert", str(tmp_path / "missing.npy"), "-o", str(tmp_path / "x.wav")]) == 2
    assert "missing.npy" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


# ----- convert -> invert: the files say how they were made ----------------------------------------
ROUND_TRIP = [
    ("spectrogram", {}), ("spectrogram", {"power": 2.0}), ("logspec", {}), ("mel", {}), ("logmel", {}),
    ("logmel", {"preset": "torchaudio", "n_mels": 64}), ("mfcc", {"n_mfcc": 40, "n_mels": 64}),
    ("seed-pretty", {"fft_size": 512, "step_size": 128}),
    ("seed-mel", {"fft_size": 1024, "step_size": 128, "n_freq_components": 32}),
]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rec")
    y = fastspec.data.speech(16000, 1.5, seed=3) * 0.5
    sf.write(folder / "speech.wav", y, 16000, subtype="PCM_16")
    return folder / "speech.wav", y.size


@pytest.mark.parametrize("fmt", ["npy", "npz"])
@pytest.mark.parametrize("feature, params", ROUND_TRIP, ids=[f"{f}-{'-'.join(p)}" for f, p in ROUND_TRIP])
def test_convert_then_invert_gives_back_the_recording(recording, tmp_path, fmt, feature, params):
    from fastspec import batch
    from fastspec.apps.invert import invert_file

    wav, n_samples = recording
    batch.convert(wav, tmp_path, feature=feature, format=fmt, workers=1, progress=False, n_fft=1024,
                  hop_length=256, **params) if not feature.startswith("seed") else \
        batch.convert(wav, tmp_path, feature=feature, format=fmt, workers=1, progress=False, **params)
    result = invert_file(tmp_path / f"speech.{fmt}", tmp_path / "back.wav", n_iter=8, rng=0)
    back, sr = sf.read(tmp_path / "back.wav")
    assert sr == 16000 and result["sr"] == 16000 and result["kind"] == feature
    hop = params.get("step_size", 256)
    assert abs(back.shape[0] - n_samples) <= hop, (back.shape, n_samples)
    sc = result["spectral_convergence"]
    assert sc is not None and np.isfinite(sc) and sc < -2.0, sc  # something of the recording came back


def test_psf_features_say_they_cannot_be_inverted(recording, tmp_path):
    from fastspec import batch
    from fastspec.apps.invert import invert_file

    batch.convert(recording[0], tmp_path, feature="mfcc", preset="psf", workers=1, progress=False)
    with pytest.raises(fastspec.ParameterError, match="preset='psf' cannot be inverted"):
        invert_file(tmp_path / "speech.npy", tmp_path / "back.wav")


def test_invert_checks_its_output_before_the_work(recording, tmp_path):
    from fastspec.apps.invert import invert_file

    with pytest.raises(fastspec.ParameterError, match="does not exist"):
        invert_file(recording[0], tmp_path / "missing" / "back.wav", kind="mel")
    with pytest.raises(fastspec.ParameterError, match="needs an extension"):
        invert_file(recording[0], tmp_path / "back", kind="mel")


def test_demo_writes_the_same_bytes_every_run(tmp_path):
    import subprocess
    import sys

    for run in ("a", "b"):
        subprocess.run([sys.executable, "-m", "fastspec.cli", "demo", "--outdir", str(tmp_path / run), "--duration",
                        "1"], check=True, capture_output=True, timeout=300)
    for name in ("example.wav", "inverted_pghi_griffin_lim.wav", "inverted_from_mel.wav"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_convert_in_a_terminal_prints_no_warnings(tmp_path):
    """Driven in a pseudo-terminal, as a user runs it: the bar, and no Python or tqdm warning text."""
    import os
    import pty
    import subprocess
    import sys

    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        sf.write(src / f"t{i}.wav", fastspec.data.speech(16000, 1.0 + i, seed=i) * 0.5, 16000)
    main_fd, child_fd = pty.openpty()
    run = subprocess.Popen([sys.executable, "-m", "fastspec.cli", "convert", str(src), "-o", str(tmp_path / "out"),
                            "--preset", "torchaudio", "--workers", "2"], stdin=child_fd, stdout=child_fd,
                           stderr=child_fd, close_fds=True)
    os.close(child_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main_fd)
    assert run.wait(timeout=120) == 0
    text = b"".join(chunks).decode(errors="replace")
    assert "4 converted" in text and "h audio" in text  # the bar was drawn
    for bad in ("Warning:", "TqdmWarning", "clamping frac", "<-", "Traceback"):
        assert bad not in text, (bad, text[-2000:])
    assert text.count("Empty filters detected") == 1  # the feature's own warning, once


def test_info_and_plot_read_an_npz_on_its_own(recording, tmp_path, capsys):
    import shutil

    from fastspec import batch

    batch.convert(recording[0], tmp_path / "out", feature="seed-pretty", format="npz", workers=1, progress=False,
                  fft_size=512, step_size=128)
    alone = tmp_path / "alone.npz"  # away from its manifest: the file alone must say what it is
    shutil.copy(tmp_path / "out" / "speech.npz", alone)
    assert main(["info", str(alone)]) == 0
    out = capsys.readouterr().out
    assert "sr: 16000  hop_length: 128" in out and "feature=seed-pretty" in out and "fft_size=512" in out
    assert main(["plot", str(alone), "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_invert_with_a_kind_by_hand_keeps_the_files_rate(recording, tmp_path, capsys):
    from fastspec import batch

    batch.convert(recording[0], tmp_path / "out", feature="logmel", workers=1, progress=False, n_fft=1024,
                  hop_length=256)
    assert main(["invert", str(tmp_path / "out" / "speech.npy"), "-o", str(tmp_path / "a.wav"), "--kind", "log_mel",
                 "--n-iter", "4"]) == 0
    assert sf.info(tmp_path / "a.wav").samplerate == 16000  # from the manifest, not 22050
    assert "assumed" not in capsys.readouterr().err
    np.save(tmp_path / "bare.npy", np.abs(fastspec.stft(fastspec.data.speech(16000, 1.0), n_fft=512)))
    assert main(["invert", str(tmp_path / "bare.npy"), "-o", str(tmp_path / "b.wav"), "--n-iter", "4"]) == 0
    assert "assumed sr=22050" in capsys.readouterr().err  # said, not silent
