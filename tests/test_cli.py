"""The fastspec command: convert, plot, info (and demo still working)."""

import json

import numpy as np
import pytest
import soundfile as sf
from matplotlib import image

from fastspec import batch, cli, feature
from fastspec import io as fio


def _tone(path, freq, sr=8000, seconds=2.0):
    t = np.arange(int(sr * seconds)) / sr
    sf.write(path, 0.5 * np.sin(2 * np.pi * freq * t), sr, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    root = tmp_path_factory.mktemp("tones")
    for freq in (1000, 2000, 3000):
        _tone(root / f"t{freq}.wav", freq)
    (root / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    return root


def _bright_row(png, column_fraction=0.4):
    """Row (from the top) of the brightest pixel in one column inside the axes."""
    pixels = image.imread(png)
    column = pixels[:, int(pixels.shape[1] * column_fraction), :3]
    # Brightness of coloured pixels (magma's bright end is pale yellow), so that the white
    # page and grey text around the axes do not count.
    coloured = column.max(axis=1) - column.min(axis=1) > 0.1
    brightness = np.where(coloured, column.sum(axis=1), 0.0)
    return int(np.argmax(brightness)), pixels


def test_convert_exit_codes_summary_and_flags(tones, tmp_path, capsys):
    code = cli.main(["convert", str(tones), "-o", str(tmp_path), "--feature", "logmel", "--n-fft", "512",
                     "--hop-length", "128", "--n-mels", "32", "--fmax", "4000", "--top-db", "none", "--workers", "1",
                     "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1  # one file failed
    # Reported once, as it happened, and recorded in the failures file.
    assert (out + err).count(str(tones / "broken.wav")) == 1
    assert f"FAILED {tones / 'broken.wav'}: not readable as audio" in err
    assert "3 converted, 0 skipped (already done), 1 failed" in out
    assert f"failures: {tmp_path / 'failures.jsonl'}" in out
    [failure] = [json.loads(line) for line in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert failure["input"] == str(tones / "broken.wav") and failure["output"] == "broken.npy"
    assert failure["kind"] == "unreadable" and failure["reason"].startswith("not readable as audio")
    entry = json.loads((tmp_path / "manifest.jsonl").read_text().splitlines()[0])
    # The flags given, and every other parameter resolved to librosa's default.
    assert entry["params"] == {"feature": "logmel", "fmax": 4000.0, "hop_length": 128, "n_fft": 512, "n_mels": 32,
                               "top_db": None, "sr": None, "channels": "mix", "dtype": "float32",
                               "win_length": 512, "window": "hann", "center": True, "pad_mode": "constant",
                               "power": 2.0, "fmin": 0.0, "htk": False, "preemphasis": 0.0, "preset": "librosa",
                               "norm": "slaney", "amin": 1e-10}
    y, sr = fio.load(tones / "t1000.wav")
    with batch.deterministic_fft():
        expected = feature.melspectrogram(y, sr=sr, n_fft=512, hop_length=128, n_mels=32, fmax=4000.0, log="db",
                                          top_db=None)
    np.testing.assert_array_equal(np.load(tmp_path / "t1000.npy"), expected)

    code = cli.main(["convert", str(tones / "t1000.wav"), "-o", str(tmp_path / "ok"), "--workers", "1", "--quiet",
                     "--feature", "mfcc", "--n-mfcc", "13", "--no-center"])
    assert code == 0 and np.load(tmp_path / "ok" / "t1000.npy").shape[0] == 13


def test_convert_parameter_errors_exit_2(tones, tmp_path, capsys):
    assert cli.main(["convert", str(tones), "-o", str(tmp_path), "--feature", "spectrogram", "--n-mels", "40"]) == 2
    assert "fastspec convert: feature='spectrogram' takes no parameter n_mels" in capsys.readouterr().err
    assert cli.main(["convert", str(tmp_path / "missing"), "-o", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["convert", str(tones), "-o", str(tmp_path), "--feature", "cqt"])


def test_plot_audio_png_size_and_tone_positions(tones, tmp_path):
    rows = {}
    for freq in (1000, 2000, 3000):
        png = tmp_path / f"{freq}.png"
        assert cli.main(["plot", str(tones / f"t{freq}.wav"), "-o", str(png), "--n-fft", "512"]) == 0
        rows[freq], pixels = _bright_row(png)
        assert pixels.shape == (400, 1000, 4)  # 10 x 4 inches at 100 dpi
    # Linear frequency axis: the tone's line moves up evenly with frequency.
    assert rows[1000] > rows[2000] > rows[3000]
    assert rows[1000] - rows[3000] > 100
    assert abs((rows[1000] + rows[3000]) / 2 - rows[2000]) <= 3
    png = tmp_path / "small.png"
    cli.main(["plot", str(tones / "t1000.wav"), "-o", str(png), "--width", "3", "--height", "2", "--dpi", "50"])
    assert image.imread(png).shape == (100, 150, 4)


def test_plot_feature_file_uses_manifest(tones, tmp_path):
    cli.main(["convert", str(tones), "-o", str(tmp_path), "--feature", "logmel", "--n-fft", "512", "--n-mels", "64",
              "--workers", "1", "--quiet"])
    rows = {}
    for freq in (1000, 3000):
        png = tmp_path / f"{freq}.png"
        assert cli.main(["plot", str(tmp_path / f"t{freq}.npy"), "-o", str(png)]) == 0
        rows[freq], pixels = _bright_row(png)
        assert pixels.shape == (400, 1000, 4)
        assert pixels[:, :, :3].std() > 0.1  # a picture, not a blank canvas
    assert rows[1000] - rows[3000] > 50
    # Without a manifest the sample rate must be given.
    np.save(tmp_path / "bare.npy", np.load(tmp_path / "t1000.npy"))
    assert cli.main(["plot", str(tmp_path / "bare.npy"), "-o", str(tmp_path / "bare.png")]) == 2
    assert cli.main(["plot", str(tmp_path / "bare.npy"), "-o", str(tmp_path / "bare.png"), "--sr", "8000",
                     "--hop-length", "128"]) == 0


def test_info_audio_and_feature(tones, tmp_path, capsys):
    assert cli.main(["info", str(tones / "t2000.wav")]) == 0
    out = capsys.readouterr().out
    assert "format: WAV PCM_16" in out and "sample rate: 8000 Hz  channels: 1" in out and "duration: 2.000 s" in out
    cli.main(["convert", str(tones / "t2000.wav"), "-o", str(tmp_path), "--feature", "spectrogram", "--n-fft", "256",
              "--workers", "1", "--quiet"])
    capsys.readouterr()
    assert cli.main(["info", str(tmp_path / "t2000.npy")]) == 0
    out = capsys.readouterr().out
    assert "shape: (129, 251)  dtype: float32" in out and "(ok)" in out and "n_fft=256" in out
    S = np.load(tmp_path / "t2000.npy")
    np.save(tmp_path / "t2000.npy", S * 2)
    cli.main(["info", str(tmp_path / "t2000.npy")])
    assert "(MISMATCH)" in capsys.readouterr().out
    assert cli.main(["info", str(tones / "broken.wav")]) == 2
    assert "broken.wav: not readable as audio" in capsys.readouterr().err


def test_demo_still_runs(tmp_path, capsys):
    assert cli.main(["demo", "--outdir", str(tmp_path), "--duration", "1"]) == 0
    assert (tmp_path / "spectrogram.png").exists()


def test_version(capsys):
    import fastspec

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"fastspec {fastspec.__version__}"
