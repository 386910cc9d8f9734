import numpy as np
import soundfile

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
