"""Real-weight loading from local transformers checkpoints, and the BART -> Gemma vocabulary remap."""

from __future__ import annotations

import pytest
import torch
from transformers import Florence2ForConditionalGeneration, Gemma2ForCausalLM

from florenz.errors import FlorenzError
from florenz.models.build import build_model
from florenz.models.config import ModelConfig
from florenz.models.pretrained import load_pretrained
from florenz.models.vocab_remap import remap_embedding, token_text
from tests.real_checkpoints import write_florence, write_gemma


@pytest.fixture(scope="module")
def tokenizers(real_checkpoints):
    return real_checkpoints.tokenizers()


@pytest.fixture(scope="module")
def gemma_tok(tokenizers):
    return tokenizers[1]


@pytest.fixture(scope="module")
def bart_tok(tokenizers):
    return tokenizers[0]


def test_remapped_rows_are_means_of_bart_rows(gemma_tok, bart_tok):
    weight = torch.randn(len(bart_tok), 8)
    new = remap_embedding(weight, gemma_tok, bart_tok, generator=torch.Generator().manual_seed(0))
    assert new.shape == (len(gemma_tok), 8)
    for name in ("bos", "eos", "unk", "pad"):
        g, b = getattr(gemma_tok, f"{name}_token_id"), getattr(bart_tok, f"{name}_token_id")
        assert torch.equal(new[g], weight[b])
    checked = 0
    for gid, token in enumerate(gemma_tok.convert_ids_to_tokens(list(range(len(gemma_tok))))):
        if gid in gemma_tok.all_special_ids:
            continue
        text = token_text(token)  # "▁" -> space, "<0xNN>" -> its ASCII character
        if text is None:
            continue
        bart_ids = bart_tok(text, add_special_tokens=False)["input_ids"]
        assert bart_ids, token
        assert torch.allclose(new[gid], weight[bart_ids].mean(0), atol=1e-6), token
        checked += 1
    assert checked > 300
    mask_row = new[gemma_tok.mask_token_id]  # a special token without a BART match: N(0, 0.02)
    assert mask_row.abs().max() < 0.2 and not any(torch.equal(mask_row, w) for w in weight)


def _florence_dir(tmp_path, bart_tok):
    write_florence(tmp_path / "florence", bart_tok, d=32, dims=(16, 32))
    return Florence2ForConditionalGeneration.from_pretrained(tmp_path / "florence", local_files_only=True)


def _gemma_dir(tmp_path, gemma_tok):
    write_gemma(tmp_path / "gemma", gemma_tok, hidden=48, layers=2)
    return Gemma2ForCausalLM.from_pretrained(tmp_path / "gemma", local_files_only=True)


def test_load_gemma_kind_from_local_checkpoints(tmp_path, gemma_tok, bart_tok):
    florence = _florence_dir(tmp_path, bart_tok)
    gemma = _gemma_dir(tmp_path, gemma_tok)
    cfg = ModelConfig(preset="F-3.5B", florence_path=str(tmp_path / "florence"), gemma_path=str(tmp_path / "gemma"),
                      image_size=64)
    model, proc = load_pretrained(cfg)
    fs, gs = florence.state_dict(), gemma.state_dict()
    assert torch.equal(model.vision_tower.convs[0].conv.weight, fs["model.vision_tower.convs.0.conv.weight"])
    proj = fs["model.multi_modal_projector.image_projection.weight"]
    assert torch.equal(model.projector.image_projection.weight, proj)
    assert torch.equal(model.encoder.layers[0].fc1.weight, fs["model.language_model.encoder.layers.0.fc1.weight"])
    assert torch.equal(model.encoder.embed_tokens.weight, fs["model.language_model.shared.weight"])
    assert torch.equal(model.decoder.layers[1].mlp.up_proj.weight, gs["model.layers.1.mlp.up_proj.weight"])
    assert model.lm_head.weight is model.decoder.embed_tokens.weight
    for layer in model.decoder.layers:
        assert layer.cross_gate.item() == 0.0
        assert torch.equal(layer.cross_norm.weight, layer.post_attention_layernorm.weight)
    ids = torch.tensor([[gemma_tok.bos_token_id, 10, 11, 12]])
    enc_states = torch.randn(1, 5, 32)
    ours = model.decode(ids, type("E", (), {"states": enc_states, "mask": torch.ones(1, 5, dtype=torch.long)})())
    assert torch.allclose(ours.logits, gemma.eval()(ids).logits, atol=1e-5)  # insertion is a no-op at init
    assert proc.image_size == 64 and proc.decoder_tokenizer.bos_token_id == gemma_tok.bos_token_id


def test_load_bart_kind_remaps_decoder_vocab(tmp_path, gemma_tok, bart_tok):
    florence = _florence_dir(tmp_path, bart_tok)
    (tmp_path / "gemma_tok").mkdir()
    gemma_tok.save_pretrained(tmp_path / "gemma_tok")
    cfg = ModelConfig(preset="F-0.4B", florence_path=str(tmp_path / "florence"),
                      tokenizer_path=str(tmp_path / "gemma_tok"))
    model = build_model(cfg)
    shared = florence.state_dict()["model.language_model.shared.weight"]
    assert model.decoder.embed_tokens.weight.shape == (len(gemma_tok), 32)
    assert torch.equal(model.encoder.embed_tokens.weight, shared)  # encoder embeddings stay as they are
    assert torch.equal(model.decoder.embed_tokens.weight[gemma_tok.eos_token_id], shared[bart_tok.eos_token_id])
    fc1 = florence.state_dict()["model.language_model.decoder.layers.0.fc1.weight"]
    assert torch.equal(model.decoder.layers[0].fc1.weight, fc1)


def test_missing_and_mismatched_weights_are_named(tmp_path, gemma_tok, bart_tok):
    _florence_dir(tmp_path, bart_tok)
    gemma = _gemma_dir(tmp_path, gemma_tok)
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in gemma.state_dict().items()
             if "layers.1.mlp.down_proj" not in k and k != "lm_head.weight"}
    state["model.layers.0.mlp.up_proj.weight"] = torch.zeros(3, 3)
    save_file(state, str(tmp_path / "gemma" / "model.safetensors"))
    cfg = ModelConfig(preset="F-3.5B", florence_path=str(tmp_path / "florence"), gemma_path=str(tmp_path / "gemma"))
    with pytest.raises(FlorenzError, match=r"missing weights: decoder.layers.1.mlp.down_proj.weight"):
        load_pretrained(cfg)
    state["model.layers.1.mlp.down_proj.weight"] = gemma.state_dict()["model.layers.1.mlp.down_proj.weight"]
    save_file(state, str(tmp_path / "gemma" / "model.safetensors"))
    with pytest.raises(FlorenzError, match=r"shape-mismatched weights: decoder.layers.0.mlp.up_proj.weight \(3, 3\)"):
        load_pretrained(cfg)


def _hub(real_checkpoints, tmp_path, *repos):
    """Copies of hub-shaped fixture directories that a test may damage."""
    import shutil

    out = []
    for repo in repos:
        dst = tmp_path / repo
        shutil.copytree(real_checkpoints(repo), dst)
        out.append(dst)
    return out


def test_builder_reads_tokenizers_from_checkpoints_never_from_the_data(real_checkpoints, tmp_path):
    from florenz.data.tokenizer import train_tokenizer
    from florenz.models.build import build

    florence, gemma = _hub(real_checkpoints, tmp_path, "florence-community/Florence-2-base", "google/gemma-2-2b")
    data_tok = train_tokenizer(["a red circle", "ein roter Kreis"], vocab_size=60)
    bart, gem = real_checkpoints.tokenizers()
    for preset in ("F-0.4B", "F-3.5B"):
        model, proc = build(ModelConfig(preset=preset, florence_path=str(florence), gemma_path=str(gemma),
                                        image_size=64), tokenizer=data_tok)
        assert proc.encoder_tokenizer.get_vocab() == bart.get_vocab()
        assert proc.decoder_tokenizer.get_vocab() == gem.get_vocab()
        assert model.config.encoder_vocab_size == len(bart) < model.config.decoder_vocab_size == len(gem)
        assert model.config.encoder_ids == {"bos": 0, "pad": 1, "eos": 2}
        assert model.config.decoder_ids == {"pad": 0, "eos": 1, "bos": 2}
        assert not any(p.is_meta for p in model.parameters())
        assert model.lm_head.weight is model.decoder.embed_tokens.weight
    with pytest.raises(FlorenzError, match="needs model.hub_dir or model.florence_path"):
        build(ModelConfig(preset="F-0.4B"), tokenizer=data_tok)


def test_train_setup_uses_no_data_tokenizer_for_real_presets(real_checkpoints, tmp_path):
    from florenz.config import Config
    from florenz.train import setup

    florence, gemma = real_checkpoints("florence-community/Florence-2-base"), real_checkpoints("google/gemma-2-2b")
    cfg = Config()
    cfg.model = ModelConfig(preset="F-0.4B", florence_path=str(florence), gemma_path=str(gemma), image_size=64)
    assert setup.load_tokenizer(cfg, tmp_path) is None  # a `florenz data build` directory has no tokenizer.json
    model, proc = setup.build(cfg, None, torch.device("cpu"))
    assert model.training and len(proc.decoder_tokenizer) == model.config.decoder_vocab_size


def test_tokenizer_mixups_name_both_files_and_numbers(real_checkpoints, tmp_path):
    import shutil

    florence, gemma = _hub(real_checkpoints, tmp_path, "florence-community/Florence-2-large", "google/gemma-2-2b")
    bart, gem = real_checkpoints.tokenizers()
    # the BART tokenizer as the Gemma decoder's: smaller than the Gemma embedding
    cfg = ModelConfig(preset="F-3.5B", florence_path=str(florence), gemma_path=str(gemma),
                      tokenizer_path=str(florence))
    with pytest.raises(FlorenzError) as err:
        build_model(cfg)
    msg = str(err.value)
    assert f"{florence / 'tokenizer.json'} has {len(bart)} tokens" in msg and str(gemma) in msg
    assert f"{len(gem)} rows" in msg and "decoder" in msg
    # a Gemma tokenizer left in the Florence-2 directory: larger than the encoder embedding
    for f in florence.glob("tokenizer*"):
        f.unlink()
    for f in gemma.glob("tokenizer*"):
        shutil.copy(f, florence / f.name)
    with pytest.raises(FlorenzError) as err:
        build_model(ModelConfig(preset="F-3.5B", florence_path=str(florence), gemma_path=str(gemma)))
    msg = str(err.value)
    assert f"{florence / 'tokenizer.json'} has {len(gem)} tokens" in msg
    assert f"{florence / 'model.safetensors'} has {len(bart)} rows" in msg


def test_special_id_mismatch_names_both_files_and_ids(real_checkpoints, tmp_path):
    import json

    florence, gemma = _hub(real_checkpoints, tmp_path, "florence-community/Florence-2-large", "google/gemma-2-2b")
    conf = json.loads((gemma / "config.json").read_text())
    conf["bos_token_id"] = 5
    (gemma / "config.json").write_text(json.dumps(conf))
    with pytest.raises(FlorenzError, match=rf"bos token id mismatch: tokenizer {gemma / 'tokenizer.json'} has 2, "
                                           rf"config {gemma / 'config.json'} has 5"):
        build_model(ModelConfig(preset="F-3.5B", florence_path=str(florence), gemma_path=str(gemma)))


def test_assign_loading_keeps_one_copy(real_checkpoints):
    """`load_state(assign=True)` makes the given tensors the parameters (no second copy)."""
    from florenz.models.build import build_empty
    from florenz.models.checkpoint import load_state

    model, _ = load_pretrained(ModelConfig(preset="F-0.4B", florence_path=str(real_checkpoints(
        "florence-community/Florence-2-base")), gemma_path=str(real_checkpoints("google/gemma-2-2b")), image_size=64))
    state = {k: v.clone() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    empty = build_empty(model.config)
    assert all(p.is_meta for p in empty.parameters())
    load_state(empty, state, "test", assign=True)
    params = dict(empty.named_parameters())
    assert all(params[k].data_ptr() == v.data_ptr() for k, v in state.items() if k in params)
    assert empty.lm_head.weight is empty.decoder.embed_tokens.weight


def test_remap_in_chunks_equals_one_pass(gemma_tok, bart_tok):
    weight = torch.randn(len(bart_tok), 8)
    one = remap_embedding(weight, gemma_tok, bart_tok, generator=torch.Generator().manual_seed(0), chunk=10**6)
    chunked = remap_embedding(weight, gemma_tok, bart_tok, generator=torch.Generator().manual_seed(0), chunk=7)
    assert torch.equal(one, chunked)


def test_hub_dir_gives_each_preset_its_repositories(tmp_path):
    from florenz.models.build import checkpoint_paths

    expected = {"F-0.4B": ("florence-community/Florence-2-base", "google/gemma-2-2b"),
                "F-1.0B": ("florence-community/Florence-2-large", "google/gemma-2-2b"),
                "F-3.5B": ("florence-community/Florence-2-large", "google/gemma-2-2b"),
                "F-11.2B": ("florence-community/Florence-2-large", "google/gemma-2-9b")}
    for preset, (florence, gemma) in expected.items():
        cfg = checkpoint_paths(ModelConfig(preset=preset, hub_dir=str(tmp_path)))
        assert (cfg.florence_path, cfg.gemma_path) == (str(tmp_path / florence), str(tmp_path / gemma))
    cfg = checkpoint_paths(ModelConfig(preset="F-0.4B", hub_dir=str(tmp_path), gemma_path="/mine"))
    assert cfg.gemma_path == "/mine"  # an explicit path wins
    (tmp_path / "microsoft" / "Florence-2-base").mkdir(parents=True)  # only the original release downloaded
    cfg = checkpoint_paths(ModelConfig(preset="F-0.4B", hub_dir=str(tmp_path)))
    assert cfg.florence_path == str(tmp_path / "microsoft" / "Florence-2-base")
    with pytest.raises(FlorenzError, match="model.hub_dir not found"):
        checkpoint_paths(ModelConfig(preset="F-0.4B", hub_dir=str(tmp_path / "nope")))


@pytest.mark.parametrize("gemma_repo", [None, "google/gemma-2-2b"])
def test_microsoft_remote_code_layout_loads_like_the_native_one(real_checkpoints, tmp_path, gemma_repo):
    """A user's download of microsoft/Florence-2-* (remote-code names, pytorch_model.bin) works unchanged and
    gives exactly the model the native conversion gives."""
    from tests.real_checkpoints import write_microsoft_florence

    native = real_checkpoints("florence-community/Florence-2-base")
    microsoft = write_microsoft_florence(native, tmp_path / "microsoft" / "Florence-2-base")
    assert not (microsoft / "model.safetensors").exists() and (microsoft / "pytorch_model.bin").is_file()
    gemma = str(real_checkpoints(gemma_repo or "google/gemma-2-2b"))
    preset = "F-3.5B" if gemma_repo else "F-0.4B"
    models = []
    for path in (native, microsoft):
        torch.manual_seed(0)  # the BART kind's remap draws the rows of tokens BART lacks
        models.append(load_pretrained(ModelConfig(preset=preset, florence_path=str(path), gemma_path=gemma))[0])
    a, b = (m.state_dict() for m in models)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    torch.manual_seed(0)
    pixels, ids = torch.randn(1, 3, 64, 64), torch.tensor([[0, 5, 7, 2]])
    outs = [m.eval()(pixels, ids, torch.ones_like(ids), torch.tensor([[2, 9, 4]])).logits for m in models]
    assert torch.equal(outs[0], outs[1])


def test_not_a_florence_checkpoint_is_named(real_checkpoints, tmp_path):
    florence, gemma = _hub(real_checkpoints, tmp_path, "florence-community/Florence-2-base", "google/gemma-2-2b")
    with pytest.raises(FlorenzError, match="is not a Florence-2 checkpoint"):
        build_model(ModelConfig(preset="F-0.4B", florence_path=str(gemma), gemma_path=str(gemma)))
    (florence / "model.safetensors").unlink()
    with pytest.raises(FlorenzError, match="no model.safetensors, pytorch_model.bin"):
        build_model(ModelConfig(preset="F-0.4B", florence_path=str(florence), gemma_path=str(gemma)))


def test_micro_builder_takes_tokenizer_path_over_the_data(tmp_path):
    from florenz.config import Config
    from florenz.data.tokenizer import save_tokenizer, train_tokenizer
    from florenz.train import setup

    own = train_tokenizer(["a red circle", "ein roter Kreis", "un cercle rouge"], vocab_size=80)
    save_tokenizer(own, tmp_path / "tok")
    cfg = Config()
    cfg.model = ModelConfig(preset="micro-bart-xxs", tokenizer_path=str(tmp_path / "tok"))
    assert setup.load_tokenizer(cfg, tmp_path / "no-data") is None
    model, proc = setup.build(cfg, None, torch.device("cpu"))
    assert proc.encoder_tokenizer is proc.decoder_tokenizer
    assert proc.decoder_tokenizer.get_vocab() == own.get_vocab() and model.config.decoder_vocab_size == len(own)
