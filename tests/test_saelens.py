"""SAELens trains on a circuit2mlp activation dataset through its documented extension point
(``SAETrainer`` takes any iterator of activation batches), and ``score`` reads what it saves.
Skipped where sae_lens is not installed (it is not a test dependency: it pins its own torch)."""

from __future__ import annotations

import json

import pytest

sae_lens = pytest.importorskip("sae_lens")
torch = pytest.importorskip("torch")

from test_dataset import cli, dataset, uand30  # noqa: E402

from circuit2mlp.activations import batches  # noqa: E402


@pytest.mark.parametrize("architecture", ["standard", "topk"])
def test_saelens_trains_a_few_steps_and_scores(tmp_path, capsys, architecture):
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.standard_sae import StandardTrainingSAE, StandardTrainingSAEConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    torch.manual_seed(0)
    folder = dataset()
    if architecture == "standard":
        sae = StandardTrainingSAE(StandardTrainingSAEConfig(d_in=1000, d_sae=128))
    else:
        sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=1000, d_sae=128, k=4))
    trainer_cfg = SAETrainerConfig(
        total_training_samples=64 * 20,
        train_batch_size_samples=64,
        lr_end=3e-4,
        n_batches_for_norm_estimate=2,
    )
    data = batches(folder, batch_size=64, seed=0)
    before = sae.W_dec.detach().clone()
    trained = SAETrainer(trainer_cfg, sae, data_provider=data).fit()
    assert not torch.equal(trained.W_dec.detach(), before)  # it learned something
    trained.save_inference_model(tmp_path / "sae")
    _, weights = uand30()
    capsys.readouterr()
    code = cli(
        "score",
        weights,
        "--level",
        1,
        "--dictionary",
        tmp_path / "sae",
        "--activations",
        folder,
        "--json",
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["latents"] == 128 and result["encoder"] == "W_enc"
    assert result["architecture"] == architecture
    assert 0 <= result["mcc"] <= 1
