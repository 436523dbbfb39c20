"""Japanese insured names and industries (日本標準産業分類 major groups) for the sample book.

Group-scheme sites are small 事業所 (clinics, shops, offices); individual contracts are companies of
every size. Names are a pattern per industry filled with a stem (a surname, a place or a word)."""

from __future__ import annotations

import numpy as np

STEMS = (
    "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田",
    "松本", "井上", "木村", "清水", "山口", "森", "池田", "橋本", "石川", "前田", "藤田", "岡田",
    "東京", "大阪", "横浜", "名古屋", "札幌", "福岡", "仙台", "広島", "京都", "神戸", "湘南", "北陸",
    "九州", "四国", "東北", "北海道", "信州", "瀬戸内", "さくら", "あおば", "ひまわり", "みらい",
    "ひかり", "つばさ", "やまと", "朝日", "日本", "中央", "第一", "アルファ", "ネクスト", "サンライズ",
    "グリーン", "ブルースカイ", "フロンティア", "オーシャン", "スマイル", "はなまる", "こもれび",
)  # fmt: skip

# industry -> name patterns; {x} and {y} are stems.
SITE_INDUSTRIES: dict[str, tuple[str, ...]] = {
    "医療・福祉": (
        "医療法人社団{x}会 {y}クリニック", "{x}歯科医院", "{x}内科クリニック", "{x}整骨院",
        "社会福祉法人{x}会 {y}デイサービスセンター", "{x}訪問看護ステーション", "{x}調剤薬局",
    ),
    "小売業": ("{x}商店", "有限会社{x}商店", "{x}書店", "{x}ドラッグ {y}店", "{x}生花店", "{x}酒店"),
    "学術研究・専門・技術サービス業": (
        "{x}税理士事務所", "{x}会計事務所", "司法書士{x}事務所", "{x}社会保険労務士事務所", "{x}設計事務所",
    ),
    "不動産業・物品賃貸業": ("{x}不動産", "有限会社{x}ハウジング", "{x}住宅センター"),
    "生活関連サービス業・娯楽業": ("美容室{x}", "{x}クリーニング", "{x}旅行センター"),
    "宿泊業・飲食サービス業": ("{x}旅館", "レストラン{x}", "{x}食堂"),
    "教育・学習支援業": ("{x}学習塾", "{x}ゼミナール", "{x}音楽教室"),
}  # fmt: skip

COMPANY_INDUSTRIES: dict[str, tuple[str, ...]] = {
    "情報通信業": (
        "株式会社{x}システムズ", "{x}ソフト株式会社", "合同会社{x}ラボ", "株式会社{x}データ",
        "{x}ネットワークス株式会社", "株式会社{x}テクノロジー", "株式会社{x}デジタル",
    ),
    "製造業": ("{x}工業株式会社", "株式会社{x}製作所", "{x}精機株式会社", "{x}化学工業株式会社", "{x}電機株式会社"),
    "小売業": ("株式会社{x}ストア", "株式会社{x}ドラッグ", "{x}百貨店株式会社", "株式会社{x}通販"),
    "卸売業": ("{x}商事株式会社", "{x}物産株式会社", "株式会社{x}トレーディング"),
    "医療・福祉": ("医療法人{x}会 {y}病院", "医療法人社団{x}会", "社会福祉法人{x}福祉会"),
    "学術研究・専門・技術サービス業": (
        "{x}法律事務所", "株式会社{x}設計", "合同会社{x}コンサルティング", "{x}監査法人", "株式会社{x}総合研究所",
    ),
    "金融業・保険業": ("{x}保険サービス株式会社", "{x}リース株式会社", "{x}証券株式会社"),
    "運輸業・郵便業": ("{x}運輸株式会社", "{x}物流株式会社", "{x}交通株式会社"),
    "建設業": ("{x}建設株式会社", "株式会社{x}工務店", "{x}組株式会社"),
    "不動産業・物品賃貸業": ("{x}不動産株式会社", "株式会社{x}ハウジング"),
    "教育・学習支援業": ("学校法人{x}学園", "株式会社{x}スクール"),
    "サービス業（他に分類されないもの）": ("株式会社{x}サービス", "{x}ビルメンテナンス株式会社"),
    "宿泊業・飲食サービス業": ("株式会社{x}フーズ", "{x}ホテル株式会社"),
}  # fmt: skip

# Industries more likely to buy the IT-business rider.
IT_INDUSTRIES = ("情報通信業",)


def draw(
    rng: np.random.Generator, n: int, table: dict[str, tuple[str, ...]], weights: dict[str, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (industry, name) pairs drawn from ``table`` as object arrays of str."""
    industries = list(table)
    p = np.array([(weights or {}).get(name, 1.0) for name in industries])
    industry_index = rng.choice(len(industries), n, p=p / p.sum())
    pattern_u = rng.random(n)
    x = rng.integers(0, len(STEMS), n)
    y = rng.integers(0, len(STEMS), n)
    names = []
    for i, u, a, b in zip(industry_index.tolist(), pattern_u.tolist(), x.tolist(), y.tolist(), strict=True):
        patterns = table[industries[i]]
        names.append(patterns[int(u * len(patterns))].format(x=STEMS[a], y=STEMS[b]))
    return np.array([industries[i] for i in industry_index.tolist()], dtype=object), np.array(names, dtype=object)
