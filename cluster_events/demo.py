"""Demo data: the association's two offices, its kinds of events, a season of
events around today (two months back, three months ahead), and its member list (19
companies and 29 individual members, fictional, with example.org / example.jp
addresses only).

Some registrations belong to the members' people (made signed in, or matched by
address), every one of the members-only event's; at past events most people were
checked in at the door and a few did not come. Every event has one participation
frame holding its seats, except next month's 懇談会: a 会員枠 of 15 (members only) and
a 一般枠 of 5. The 会員交流会's frame takes up to two companions per registration (a
company brings two colleagues), and the school's open class (公開授業) needs the office's
approval: some registrations there are approved, two still wait for the office.

Idempotent: venues match on name, categories and events on slug, members on their
number; registrations are only added to an event created in the same run, so
running the command twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import func, select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import (
    DEFAULT_FRAME_NAMES,
    Category,
    Event,
    EventQuestion,
    EventStatus,
    Frame,
    FrameEligibility,
    FrameSelection,
    Member,
    MemberKind,
    MemberLink,
    MemberPerson,
    MemberStatus,
    MemberType,
    QuestionKind,
    Registration,
    RegistrationCompanion,
    RegistrationStatus,
    Venue,
)
from cluster_events.registration import answers
from cluster_events.registration.tokens import hash_token, new_token_salt, personal_token
from cluster_events.timefmt import TOKYO

CATEGORIES = (
    ("seminar", "セミナー・講演会", "Seminars and lectures"),
    ("study-meeting", "経営研究・懇談会", "Management study meetings"),
    ("exchange", "交流会", "Exchange meetings"),
    ("course", "講座・研修", "Courses and training"),
    ("school-visit", "出前授業", "School visits"),
    ("consultation", "相談会", "Consultations"),
)

YRP = "yrp"
YOKOHAMA = "yokohama"
VENUES = {
    YRP: {
        "name": "YRP事務所（YRPベンチャー棟209号）",
        "name_en": "YRP office (YRP Venture Building, room 209)",
        "address": "神奈川県横須賀市光の丘8番3号 YRPベンチャー棟209号",
        "address_en": "YRP Venture Building 209, 8-3 Hikarinooka, Yokosuka, Kanagawa",
        "access_notes": "京急線「YRP野比」駅から京急バス「YRPセンター前」行きで約10分。"
        "駐車場に限りがありますので、なるべく公共交通機関をご利用ください。",
        "access_notes_en": "From Keikyu YRP-Nobi Station, take a Keikyu bus bound for "
        "YRP Center-mae (about 10 minutes). Parking is limited, so please come by public "
        "transport if you can.",
        "map_url": "https://www.google.com/maps/search/?api=1&query="
        "%E6%A8%AA%E9%A0%88%E8%B3%80%E5%B8%82%E5%85%89%E3%81%AE%E4%B8%988-3",
    },
    YOKOHAMA: {
        "name": "横浜事務所",
        "name_en": "Yokohama office",
        "address": "神奈川県横浜市金沢区片吹69番26号",
        "address_en": "69-26 Katabuki, Kanazawa-ku, Yokohama, Kanagawa",
        "access_notes": "詳しい道順は事務局までお問い合わせください。",
        "access_notes_en": "Please ask the office for directions.",
        "map_url": "https://www.google.com/maps/search/?api=1&query="
        "%E6%A8%AA%E6%B5%9C%E5%B8%82%E9%87%91%E6%B2%A2%E5%8C%BA%E7%89%87%E5%90%B969-26",
    },
}

_SURNAMES = (
    ("佐藤", "さとう"), ("鈴木", "すずき"), ("高橋", "たかはし"), ("田中", "たなか"),
    ("渡辺", "わたなべ"), ("伊藤", "いとう"), ("山本", "やまもと"), ("中村", "なかむら"),
    ("小林", "こばやし"), ("加藤", "かとう"), ("吉田", "よしだ"), ("山田", "やまだ"),
    ("佐々木", "ささき"), ("松本", "まつもと"), ("井上", "いのうえ"), ("木村", "きむら"),
    ("石井", "いしい"), ("長谷川", "はせがわ"), ("森", "もり"), ("清水", "しみず"),
    ("池田", "いけだ"), ("橋本", "はしもと"), ("岡田", "おかだ"), ("前田", "まえだ"),
)  # fmt: skip
_GIVEN_NAMES = (
    ("浩", "ひろし"), ("美和子", "みわこ"), ("健一", "けんいち"), ("恵子", "けいこ"),
    ("誠", "まこと"), ("由美", "ゆみ"), ("隆", "たかし"), ("直子", "なおこ"),
    ("修", "おさむ"), ("和子", "かずこ"), ("茂", "しげる"), ("智子", "ともこ"),
)  # fmt: skip
_ORGANIZATIONS = (
    "株式会社三浦精機", "横須賀電子工業株式会社", "有限会社野比製作所", "株式会社金沢文庫技研",
    "久里浜テクノ株式会社", "個人事業主", "株式会社追浜エンジニアリング", "NPO法人 湘南みらい",
)  # fmt: skip


@dataclass(frozen=True)
class DemoQuestion:
    kind: QuestionKind
    label_ja: str
    label_en: str
    #: (Japanese, English) pairs, for the choice kinds.
    choices: tuple[tuple[str, str], ...] = ()
    is_required: bool = False
    help_ja: str = ""
    help_en: str = ""


#: The dinner's questions: dietary needs (required), their details, and the photographs.
DINNER_QUESTIONS = (
    DemoQuestion(
        QuestionKind.one_choice,
        "食事のご配慮",
        "Dietary needs",
        choices=(
            ("特になし", "None"),
            ("食物アレルギーがある", "A food allergy"),
            ("ベジタリアン（菜食）", "Vegetarian"),
            ("その他（下の欄にお書きください）", "Other (please write below)"),
        ),
        is_required=True,
        help_ja="軽食をご用意する際の参考にいたします。",
        help_en="This helps us prepare the light meal.",
    ),
    DemoQuestion(
        QuestionKind.short_text,
        "アレルギーの食品・その他のご配慮",
        "Allergens or other needs",
        help_ja="例：えび、かに、そば",
        help_en="For example: shrimp, crab, buckwheat",
    ),
    DemoQuestion(
        QuestionKind.agreement,
        "当日撮影した写真を会報とウェブサイトに掲載することに同意します",
        "I agree that photographs taken at the meeting may appear in the newsletter and "
        "on the website",
    ),
)


@dataclass(frozen=True)
class DemoFrame:
    name_ja: str
    name_en: str
    capacity: int | None
    eligibility: FrameEligibility = FrameEligibility.anyone
    fee_text: str | None = None
    selection: FrameSelection = FrameSelection.first_come
    max_companions: int = 0
    requires_approval: bool = False


@dataclass(frozen=True)
class DemoEvent:
    slug: str
    category: str
    title: str
    summary: str
    body: str
    #: Days from today (Tokyo) and the local start and end times.
    day_offset: int
    start: time
    end: time
    venue: str | None = YRP
    title_en: str = ""
    capacity: int | None = None
    fee_text: str = "無料"
    status: EventStatus = EventStatus.published
    is_members_only: bool = False
    accepts_registrations: bool = True
    cancellation_reason: str = ""
    #: English content (empty: the English pages show the Japanese text).
    summary_en: str = ""
    body_en: str = ""
    fee_text_en: str = ""
    cancellation_reason_en: str = ""
    online_url: str = ""
    #: Registration opens this many days before the event (None: already open).
    opens_days_before: int | None = None
    #: Registration closes this many days before the event, at 17:00 (None: at the start).
    closes_days_before: int | None = 2
    confirmed: int = 0
    waiting: int = 0
    member_types: tuple[MemberType, ...] = field(default=(MemberType.general,))
    #: How many of the first registrations are the members' people, and from which of
    #: them ("corporate", "individual" or "any"); then cancelled registrations of
    #: members' people, beside the counters.
    members: int = 0
    member_pool: str = "any"
    cancelled: int = 0
    #: The event's own questions on its form; the demo's registrants answer them.
    questions: tuple[DemoQuestion, ...] = ()
    #: Participation frames; none: one frame holding ``capacity`` (and every registration).
    frames: tuple[DemoFrame, ...] = ()
    #: Companions some registrants bring: (the registration's index, how many).
    companions: tuple[tuple[int, int], ...] = ()
    #: Registrations awaiting the office's approval (a frame that needs it), after the
    #: confirmed and the waiting ones; the confirmed ones were approved.
    pending: int = 0


STUDY_MEETING_BODY = """\
毎月1回、会員と一般の方が集まり、中小企業の経営について話し合う会です。
はじめての方も歓迎します。

## 今回のテーマ
{theme}

## 進め方
1. 話題提供（約40分）
2. 質疑応答・意見交換（約60分）
3. 次回の予定

## 持ち物
筆記用具。資料は当日お配りします。

終了後、希望者で懇親会（実費・当日申込み）を予定しています。
"""

DEMO_EVENTS = (
    DemoEvent(
        slug="keiei-kenkyukai-251",
        category="study-meeting",
        title="経営研究・懇談会（第251回）",
        title_en="Management study meeting (No. 251)",
        summary="人手不足の時代の採用と定着について、会員企業の事例をもとに話し合います。",
        body=STUDY_MEETING_BODY.format(
            theme="「人手不足の時代に、小さな会社はどう人を採り、どう育てるか」\n\n"
            "話題提供：会員企業 製造業代表取締役"
        ),
        day_offset=-52,
        start=time(14, 0),
        end=time(16, 30),
        capacity=20,
        fee_text="会員無料、一般500円（資料代）",
        confirmed=14,
        members=6,
    ),
    DemoEvent(
        slug="iso-seminar-autumn",
        category="seminar",
        title="ISO 9001・14001 認証取得セミナー",
        title_en="ISO 9001 and 14001 certification seminar",
        summary="はじめて認証取得を考える中小企業の方に、手順と費用、準備の期間を具体的にご説明します。",
        body="""\
ISO 9001（品質）と ISO 14001（環境）の認証取得を、はじめて検討される方のためのセミナーです。
認証取得を支援してきた当会の審査員経験者が、実際の例をもとにお話しします。

## 内容
- 認証取得までの流れと期間の目安
- 費用の内訳（審査費用・社内の工数）
- 小さな会社でも続けられる文書づくりのコツ
- 個別のご質問（時間の許す限り）

## 対象
製造業・建設業・サービス業の経営者、品質・環境のご担当者
""",
        day_offset=-33,
        start=time(13, 30),
        end=time(16, 0),
        venue=YOKOHAMA,
        capacity=30,
        confirmed=22,
        members=5,
        member_pool="corporate",
    ),
    DemoEvent(
        slug="keiei-kenkyukai-252",
        category="study-meeting",
        title="経営研究・懇談会（第252回）",
        title_en="Management study meeting (No. 252)",
        summary="事業承継を控えた経営者の体験談をうかがい、早めの準備について考えます。",
        body=STUDY_MEETING_BODY.format(
            theme="「事業承継は10年仕事　― 親族内承継の体験から」\n\n"
            "話題提供：個人会員（元 金融機関勤務）"
        ),
        day_offset=-21,
        start=time(14, 0),
        end=time(16, 30),
        capacity=20,
        fee_text="会員無料、一般500円（資料代）",
        confirmed=17,
        members=6,
        cancelled=1,
    ),
    DemoEvent(
        slug="tokkyo-soudankai-autumn",
        category="consultation",
        title="特許取得 個別相談会（秋）",
        title_en="Patent consultation (autumn)",
        summary="特許・実用新案・商標について、弁理士経験のある会員が1社30分ずつご相談に応じます。",
        body="""\
「この技術は特許になるのか」「出願の費用はどのくらいか」など、
知的財産についての疑問に、1社30分ずつ個別にお答えします。

- 相談は無料です。秘密は守ります。
- 関係する資料（図面・製品の写真など）があればお持ちください。
- 時間帯のご希望は、お申込みの備考欄にお書きください。
""",
        day_offset=-9,
        start=time(10, 0),
        end=time(16, 0),
        capacity=8,
        confirmed=6,
        members=3,
        member_pool="corporate",
        member_types=(MemberType.corporate, MemberType.general),
    ),
    DemoEvent(
        slug="eco-action21-setsumeikai",
        category="seminar",
        title="エコアクション21 認証登録 説明会",
        title_en="Eco-Action 21 certification briefing",
        summary="環境省が定めた中小企業向けの環境経営の仕組み「エコアクション21」の登録までを分かりやすくご説明します。",
        body="""\
エコアクション21は、中小企業でも取り組みやすいように環境省が定めた環境マネジメントの仕組みです。
取引先や自治体の入札で求められることが増えています。

## 内容
1. エコアクション21とは（ISO 14001との違い）
2. 登録までの流れと費用
3. 電気・燃料の使用量の「見える化」から始める方法
4. 登録企業の事例紹介

## 講師
当会 環境部会（エコアクション21審査員）
""",
        day_offset=9,
        start=time(14, 0),
        end=time(16, 0),
        venue=YOKOHAMA,
        capacity=30,
        confirmed=27,
        members=4,
        member_pool="corporate",
    ),
    DemoEvent(
        slug="keiei-kenkyukai-253",
        category="study-meeting",
        title="経営研究・懇談会（第253回）",
        title_en="Management study meeting (No. 253)",
        summary="中小企業のデジタル化について、無理なく始められる身近な例を持ち寄って話し合います。",
        body=STUDY_MEETING_BODY.format(
            theme="「紙と電話の仕事を、少しずつデジタルに」\n\n話題提供：会員企業 総務担当部長"
        ),
        day_offset=15,
        start=time(14, 0),
        end=time(16, 30),
        capacity=20,
        fee_text="会員無料、一般500円（資料代）",
        confirmed=20,
        waiting=3,
        members=5,
        cancelled=1,
    ),
    DemoEvent(
        slug="kojin-kaiin-koryukai",
        category="exchange",
        title="個人会員交流会",
        title_en="Individual members' exchange meeting",
        summary="個人会員どうしの情報交換と親睦の会です（会員限定）。",
        body="""\
今年度の活動を振り返り、来年度の部会活動について意見を交わします。
軽食と飲み物をご用意します。
""",
        day_offset=20,
        start=time(17, 30),
        end=time(19, 30),
        venue=YOKOHAMA,
        capacity=30,
        fee_text="1,000円（軽食代）",
        is_members_only=True,
        confirmed=9,
        member_types=(MemberType.individual,),
        members=9,
        member_pool="individual",
        questions=DINNER_QUESTIONS,
    ),
    DemoEvent(
        slug="tokkyo-soudankai-winter",
        category="consultation",
        title="特許取得 個別相談会（冬）",
        title_en="Patent consultation (winter)",
        summary="1社30分の個別相談です。出願前の技術の整理から、費用の目安までご相談いただけます。",
        body="""\
1社30分ずつ、弁理士経験のある会員がご相談に応じます。

- 相談は無料です。秘密は守ります。
- ご希望の時間帯を備考欄にお書きください。事務局から時間をご連絡します。
""",
        day_offset=24,
        start=time(10, 0),
        end=time(16, 0),
        capacity=8,
        confirmed=2,
    ),
    DemoEvent(
        slug="eco-kyoiku-demae-jugyo",
        category="school-visit",
        title="小中学校エコ教育 出前授業",
        title_en="Environmental lessons in schools",
        summary="市内の小学校で、省エネルギーと地球温暖化についての授業を行います。一般の方の参加はできません。",
        body="""\
当会の環境部会の会員が講師として小学校に伺い、
身の回りの電気の使い方から地球温暖化を考える授業を行います。

出前授業をご希望の学校は、事務局までお問い合わせください。
""",
        day_offset=28,
        start=time(10, 45),
        end=time(12, 20),
        venue=None,
        accepts_registrations=False,
        fee_text="",
    ),
    DemoEvent(
        slug="beigun-nyusatsu-seminar",
        category="seminar",
        title="米軍入札 参加支援セミナー",
        title_en="Seminar: bidding for US forces contracts in Japan",
        summary="在日米軍の調達に参加するための登録手続きと入札の流れを、日本語と英語でご説明します。",
        body="""\
在日米軍基地の物品・工事・サービスの調達に、地元の中小企業が参加するための手順をご説明します。
資料は日本語と英語の両方をご用意します。

## 内容
- 米軍調達の仕組みと公告の探し方
- 事前登録（SAM登録など）の手順
- 英文の入札書類を読むときの注意点
- 参加企業の経験談

## This seminar is bilingual
Explanations are given in Japanese and English. English-speaking participants are welcome.
""",
        summary_en="How local businesses register for and bid on the procurement of the US "
        "forces in Japan, explained in Japanese and English.",
        body_en="""\
How small and medium businesses near the bases can take part in the US forces' purchases
of goods, construction and services in Japan. Handouts are in Japanese and English.

## Programme
- How US forces procurement works, and where notices are published
- Registering in advance (SAM registration and others)
- What to watch for when reading bidding documents in English
- Experiences of businesses that have bid

## A bilingual seminar
Explanations are given in Japanese and English. English-speaking participants are welcome.
""",
        fee_text_en="2,000 yen (free for members)",
        day_offset=35,
        start=time(13, 30),
        end=time(16, 30),
        capacity=40,
        fee_text="2,000円（会員無料）",
        confirmed=11,
        members=2,
        member_pool="corporate",
        member_types=(MemberType.corporate, MemberType.general, MemberType.general),
    ),
    DemoEvent(
        slug="tokkyo-seminar-chusen",
        category="seminar",
        title="知的財産セミナー「特許で事業を守る」",
        title_en="Seminar: protecting your business with patents",
        summary="毎回すぐに満席になる人気のセミナーです。今回は抽選でご参加の方を決めます。",
        body="""弁理士の会員が、中小企業が特許を取るまでの流れと費用、取った特許の生かし方をお話しします。

## 内容
- 特許になる発明・ならない発明
- 出願から登録までの流れと費用の目安
- 使える減免制度と補助金

## 抽選について
申込締切までにご応募いただいた方の中から、抽選で30名様をご案内します。
抽選結果は、応募された方全員にメールでお知らせします。
""",
        day_offset=30,
        start=time(14, 0),
        end=time(16, 0),
        capacity=30,
        closes_days_before=7,
        frames=(
            DemoFrame(
                "参加者（抽選）", "Participants (by lot)", 30, selection=FrameSelection.lottery
            ),
        ),
    ),
    DemoEvent(
        slug="koho-ryoku-up-koza",
        category="course",
        title="市民公益活動団体の広報力アップ講座（全3回）",
        title_en="Public relations course for civic groups (3 sessions)",
        summary="チラシ、ホームページ、SNSで活動を伝える力を、3回の講座で身につけます。横須賀市との共催です。",
        body="""\
市民活動団体・NPOの皆さまを対象に、活動を分かりやすく伝える方法を学ぶ講座です（横須賀市との共催）。
3回続けてのご参加をお願いします。日時は第1回のものです。

| 回 | 内容 |
| --- | --- |
| 第1回 | 伝えたい相手を決める・チラシの作り方 |
| 第2回 | ホームページとSNSの使い分け |
| 第3回 | 作ったチラシの発表と講評 |

第2回・第3回の日時は、第1回でお知らせします。
""",
        day_offset=40,
        start=time(13, 30),
        end=time(16, 0),
        capacity=25,
        confirmed=8,
    ),
    DemoEvent(
        slug="keiei-kenkyukai-254",
        category="study-meeting",
        title="経営研究・懇談会（第254回）",
        title_en="Management study meeting (No. 254)",
        summary="新年最初の会です。今年の経済の見通しと、中小企業が備えておきたいことを話し合います。",
        body=STUDY_MEETING_BODY.format(
            theme="「今年の景気の見通しと、中小企業の備え」\n\n"
            "話題提供：個人会員（元 経済団体職員）"
        ),
        day_offset=46,
        start=time(14, 0),
        end=time(16, 30),
        capacity=20,
        fee_text="会員無料、一般500円（資料代）",
        opens_days_before=30,
        frames=(
            DemoFrame("会員枠", "Members", 15, FrameEligibility.members, fee_text="無料"),
            DemoFrame("一般枠", "General", 5, fee_text="500円（資料代）"),
        ),
    ),
    DemoEvent(
        slug="shoene-kankyo-keiei-seminar",
        category="seminar",
        title="省エネ・環境経営セミナー",
        title_en="Seminar on energy saving and environmental management",
        summary="電気代の上がる今、工場や事務所で今日からできる省エネの進め方をご紹介します。",
        body="""\
工場・事務所の電気や燃料の使い方を見直し、費用と二酸化炭素をあわせて減らす方法をご紹介します。

## 内容
- エネルギー使用量の把握のしかた
- 照明・空調・コンプレッサーの省エネ
- 使える補助金の探し方
""",
        day_offset=55,
        start=time(14, 0),
        end=time(16, 0),
        venue=YOKOHAMA,
        capacity=40,
        status=EventStatus.cancelled,
        cancellation_reason="講師の体調不良のため、中止とさせていただきます。"
        "お申込みの皆さまには、事務局からご連絡いたしました。",
        summary_en="With electricity getting dearer, ways to save energy in factories and "
        "offices that you can start today.",
        body_en="""\
How to review the use of electricity and fuel in factories and offices, and cut both the
costs and the carbon dioxide.

## Programme
- Measuring how much energy you use
- Saving energy in lighting, air conditioning and compressors
- Finding the subsidies you can use
""",
        fee_text_en="Free",
        cancellation_reason_en="The speaker is unwell, so the seminar is cancelled. "
        "The office has contacted everyone who registered.",
    ),
    DemoEvent(
        slug="online-dx-nyumon",
        category="seminar",
        title="オンライン講演会「はじめての業務のデジタル化」",
        title_en="Online lecture: first steps in going digital",
        summary="ご自宅や職場からご参加いただけるオンライン講演会です。",
        body="""\
Web会議システム（Zoom）を使ったオンライン講演会です。
お申込みの方に、前日までに参加用のURLをメールでお送りします。

はじめての方のために、開始30分前から接続の確認を受け付けます。
""",
        day_offset=63,
        start=time(19, 0),
        end=time(20, 30),
        venue=None,
        online_url="https://zoom.example.org/j/0000000000",
    ),
    DemoEvent(
        slug="shinshun-koryukai",
        category="exchange",
        title="新春交流会",
        title_en="New Year exchange meeting",
        summary="会員・ゲストの皆さまと新年を祝う交流会です（準備中・非公開）。",
        body="詳細は決まり次第お知らせします。",
        day_offset=80,
        start=time(17, 0),
        end=time(19, 0),
        venue=YOKOHAMA,
        capacity=50,
        fee_text="3,000円",
        status=EventStatus.draft,
    ),
    # Issue 12's companions and approval (added last, so that the registrants of the
    # events above keep their names and addresses).
    DemoEvent(
        slug="kaiin-koryukai",
        category="exchange",
        title="会員交流会",
        title_en="Members' exchange meeting",
        summary="会員の皆さまと、ご一緒にお越しの方の交流会です。1件のお申込みで2名様までご同伴いただけます。",
        body="""\
会員どうしの情報交換と、新しいつながりづくりの会です。
会員企業の方は、同僚や取引先の方を2名様までお連れいただけます。
お申込みの際に、ご同伴の方のお名前とふりがなをお書きください。

## 進め方
1. 会員企業の近況紹介（1社3分）
2. テーマごとの歓談
3. 部会活動のご案内

軽食と飲み物をご用意します。
""",
        day_offset=25,
        start=time(18, 0),
        end=time(20, 0),
        capacity=40,
        fee_text="1,500円（軽食代・ご同伴の方も同額）",
        confirmed=10,
        members=4,
        member_pool="corporate",
        member_types=(MemberType.corporate, MemberType.general),
        # A company's contact brings two colleagues, another company's one, a guest two.
        companions=((0, 2), (3, 1), (6, 2)),
        frames=(DemoFrame("参加者", "Participants", 40, max_companions=2),),
    ),
    DemoEvent(
        slug="eco-kyoiku-kokai-jugyo",
        category="school-visit",
        title="小中学校エコ教育 出前授業 公開授業（見学）",
        title_en="Environmental lesson in a school: open class for observers",
        summary="市内の小学校で行う出前授業を、学校の先生方・保護者・地域の方に公開します。"
        "学校と相談のうえ、事務局がお申込みを承認します。",
        body="""\
当会の環境部会の会員が、市内の小学校の5年生に「身の回りの電気と地球温暖化」の授業を行います。
出前授業をお考えの学校の先生方、保護者、地域の方の見学をお受けします。

- 学校の安全のため、お申込みは事務局で確認のうえ承認します。
- 学校名と集合場所は、承認した方にだけお知らせします。
- 承認の結果は、お申込みから3日以内にメールでお知らせします。
- 当日は受付で名札をお渡しします。児童の写真の撮影はご遠慮ください。
""",
        day_offset=33,
        start=time(10, 45),
        end=time(12, 20),
        venue=None,
        capacity=12,
        closes_days_before=5,
        confirmed=4,
        pending=2,
        frames=(DemoFrame("見学者", "Observers", 12, requires_approval=True),),
    ),
)


@dataclass(frozen=True)
class DemoMember:
    number: str
    kind: MemberKind
    #: A company's name and reading; an individual member's come from its person.
    name: str
    name_kana: str
    people: int
    joined_on: date
    status: MemberStatus = MemberStatus.active
    note: str = ""


_MEMBER_SURNAMES = (
    ("青木", "あおき"), ("石川", "いしかわ"), ("上野", "うえの"), ("遠藤", "えんどう"),
    ("小川", "おがわ"), ("金子", "かねこ"), ("菊地", "きくち"), ("久保", "くぼ"),
    ("小島", "こじま"), ("斎藤", "さいとう"), ("島田", "しまだ"), ("杉山", "すぎやま"),
    ("関口", "せきぐち"), ("高野", "たかの"), ("千葉", "ちば"), ("土屋", "つちや"),
    ("永井", "ながい"), ("西村", "にしむら"), ("野口", "のぐち"), ("原田", "はらだ"),
    ("平野", "ひらの"), ("藤井", "ふじい"), ("星野", "ほしの"), ("松田", "まつだ"),
)  # fmt: skip
_MEMBER_GIVEN_NAMES = (
    ("明", "あきら"), ("幸子", "さちこ"), ("大輔", "だいすけ"), ("真理", "まり"),
    ("孝之", "たかゆき"), ("純子", "じゅんこ"), ("博", "ひろし"), ("陽子", "ようこ"),
    ("正樹", "まさき"), ("久美子", "くみこ"), ("勝", "まさる"), ("裕子", "ゆうこ"),
    ("進", "すすむ"),
)  # fmt: skip
_COMPANY_ROLES = (("", "代表取締役"), ("総務部", "部長"), ("技術部", "主任"))

#: Number, name, reading (without 株式会社 and the like, as the office sorts them),
#: how many contact people, and the year the company joined (in April, or October).
_COMPANIES = (
    ("C-001", "株式会社三浦精機", "みうらせいき", 2, 2009),
    ("C-002", "横須賀電子工業株式会社", "よこすかでんしこうぎょう", 3, 2008),
    ("C-003", "有限会社野比製作所", "のびせいさくしょ", 1, 2012),
    ("C-004", "株式会社金沢文庫技研", "かなざわぶんこぎけん", 2, 2014),
    ("C-005", "久里浜テクノ株式会社", "くりはまてくの", 1, 2015),
    ("C-006", "株式会社追浜エンジニアリング", "おっぱまえんじにありんぐ", 2, 2016),
    ("C-007", "観音崎マリンサービス株式会社", "かんのんざきまりんさーびす", 1, 2017),
    ("C-008", "株式会社浦賀ドック工芸", "うらがどっくこうげい", 3, 2010),
    ("C-009", "衣笠建設株式会社", "きぬがさけんせつ", 2, 2011),
    ("C-010", "株式会社逗子デザイン室", "ずしでざいんしつ", 1, 2019),
    ("C-011", "三崎水産加工株式会社", "みさきすいさんかこう", 2, 2013),
    ("C-012", "株式会社葉山ソフトウェア", "はやまそふとうぇあ", 1, 2020),
    ("C-013", "横浜港北ロジスティクス株式会社", "よこはまこうほくろじすてぃくす", 3, 2018),
    ("C-014", "株式会社能見台電設", "のうけんだいでんせつ", 1, 2021),
    ("C-015", "富岡化成株式会社", "とみおかかせい", 1, 2016),
    ("C-016", "株式会社長井農園", "ながいのうえん", 2, 2022),
    ("C-017", "大津ハウジング株式会社", "おおつはうじんぐ", 1, 2023),
    ("C-018", "株式会社光の丘ラボ", "ひかりのおからぼ", 1, 2021),
    ("C-019", "秋谷印刷株式会社", "あきやいんさつ", 2, 2012),
)  # fmt: skip
_NOTES = {
    "C-002": "年会費は口座振替。",
    "C-008": "ISO 9001 認証取得を支援（2019年）。",
    "C-018": "今年度の会費が未納。",
}
_LAPSED = ("C-018", "I-027", "I-028")
_WITHDRAWN = ("I-029",)


def _status(number: str) -> MemberStatus:
    if number in _WITHDRAWN:
        return MemberStatus.withdrawn
    return MemberStatus.lapsed if number in _LAPSED else MemberStatus.active


DEMO_MEMBERS = tuple(
    DemoMember(
        number,
        MemberKind.corporate,
        name,
        kana,
        people,
        date(year, 10 if index % 4 == 3 else 4, 1),
        status=_status(number),
        note=_NOTES.get(number, ""),
    )
    for index, (number, name, kana, people, year) in enumerate(_COMPANIES)
) + tuple(
    DemoMember(
        f"I-{index:03d}",
        MemberKind.individual,
        "",
        "",
        1,
        date(2012 + index % 12, index % 12 + 1, 1),
        status=_status(f"I-{index:03d}"),
    )
    for index in range(1, 30)
)

#: The member whose address `seed-demo` prints for trying the sign-in: active, and not
#: yet registered for the members-only event, so it can be tried from the start.
DEMO_SIGN_IN_MEMBER = "I-010"
#: A contact person who left C-001 (shown as removed on its page).
_REMOVED_FROM = "C-001"
#: At an event that has ended, every confirmed person was checked in except every
#: ``_NO_SHOW_EVERY``-th one.
_NO_SHOW_EVERY = 6


#: Kinds of event that only happen on working days (schools, the office's consultations).
_WEEKDAY_ONLY = ("school-visit", "consultation")


def database_is_empty() -> bool:
    return (db.session.scalar(select(func.count(Event.id))) or 0) == 0


@dataclass(frozen=True)
class Seeded:
    events: int
    members: int


def seed_demo(today: date | None = None) -> Seeded:
    """Create what is missing of the demo data and commit; returns how many events
    and members were created."""
    today = today or utcnow().astimezone(TOKYO).date()
    categories = _ensure_categories()
    venues = _ensure_venues()
    members = _ensure_members()
    pools = _member_pools()
    existing = set(
        db.session.scalars(select(Event.slug).where(Event.slug.in_(e.slug for e in DEMO_EVENTS)))
    )
    created = 0
    for number, spec in enumerate(DEMO_EVENTS):
        if spec.slug in existing:
            continue
        event = _build_event(spec, today, categories, venues)
        db.session.add(event)
        db.session.flush()
        _add_questions(event, spec)
        _add_registrations(event, spec, seed=number, pool=_pool_for(spec, pools))
        created += 1
    db.session.commit()
    return Seeded(events=created, members=members)


def sign_in_address() -> str | None:
    """The address of the demo member's person to try the members' sign-in with."""
    return db.session.scalar(
        select(MemberPerson.email)
        .join(Member, MemberPerson.member_id == Member.id)
        .where(Member.number == DEMO_SIGN_IN_MEMBER, MemberPerson.is_active.is_(True))
    )


def _ensure_members() -> int:
    """The demo member list, each member created unless its number exists already.
    People are numbered across the list so that every name is different."""
    existing = set(
        db.session.scalars(select(Member.number).where(Member.number.in_(_demo_numbers())))
    )
    person_number = 0
    created = 0
    for spec in DEMO_MEMBERS:
        names = []
        for _ in range(spec.people + (spec.number == _REMOVED_FROM)):
            names.append(_member_person_name(person_number))
            person_number += 1
        if spec.number not in existing:
            _add_member(spec, names)
            created += 1
    db.session.flush()
    return created


def _add_member(spec: DemoMember, names: list[tuple[str, str]]) -> None:
    """The member and its people; a person past ``spec.people`` has left it."""
    now = utcnow()
    # An individual member is its person.
    individual = spec.kind == MemberKind.individual
    name, name_kana = names[0] if individual else (spec.name, spec.name_kana)
    member = Member(
        number=spec.number,
        kind=spec.kind,
        name=name,
        name_kana=name_kana,
        status=spec.status,
        joined_on=spec.joined_on,
        note=spec.note,
        withdrawn_at=now - timedelta(days=200) if spec.status == MemberStatus.withdrawn else None,
    )
    db.session.add(member)
    local = _local_part(spec.number)
    for index, (person_name, person_kana) in enumerate(names):
        removed = index >= spec.people
        if spec.kind == MemberKind.corporate:
            department, title = _COMPANY_ROLES[index % len(_COMPANY_ROLES)]
            email = f"kaiin-{local}-{index + 1}@example.jp"
            phone = f"046-810-{spec.number[2:]}{index + 1}"
        else:
            department, title = "", ""
            email = f"kaiin-{local}@example.org"
            phone = f"046-820-0{spec.number[2:]}"
        db.session.add(
            MemberPerson(
                member=member,
                name=person_name,
                name_kana=person_kana,
                email=email,
                email_normalized=email,
                phone=phone,
                department=department,
                title=title,
                is_active=member.is_active and not removed,
                removed_at=now - timedelta(days=300) if removed else None,
            )
        )


def _local_part(number: str) -> str:
    return number.lower().replace("-", "")  # C-001: c001


def _demo_numbers() -> list[str]:
    return [spec.number for spec in DEMO_MEMBERS]


def _member_person_name(number: int) -> tuple[str, str]:
    """Name and reading of the demo list's ``number``-th person; all different for the
    list's size (the given name moves on by one each round of surnames)."""
    surname, surname_kana = _MEMBER_SURNAMES[number % len(_MEMBER_SURNAMES)]
    given_index = (number + number // len(_MEMBER_SURNAMES)) % len(_MEMBER_GIVEN_NAMES)
    given, given_kana = _MEMBER_GIVEN_NAMES[given_index]
    return f"{surname} {given}", f"{surname_kana} {given_kana}"


def _member_pools() -> dict[str, list[MemberPerson]]:
    """The active people of the demo members, by kind, in member-number order."""
    people = db.session.scalars(
        select(MemberPerson)
        .join(Member, MemberPerson.member_id == Member.id)
        .where(Member.number.in_(_demo_numbers()), MemberPerson.is_active.is_(True))
        .order_by(Member.number, MemberPerson.id)
    ).all()
    pools: dict[str, list[MemberPerson]] = {"corporate": [], "individual": []}
    for person in people:
        pools[person.member.kind].append(person)
    mixed = []
    for pair in zip(pools["corporate"], pools["individual"], strict=False):
        mixed.extend(pair)
    pools["any"] = mixed
    return pools


def _pool_for(spec: DemoEvent, pools: dict[str, list[MemberPerson]]) -> list[MemberPerson]:
    """The members' people who register for an event, from the start of the pool: the
    first companies and individual members are regulars, seen at most events (and
    DEMO_SIGN_IN_MEMBER, further down, at none yet)."""
    return pools[spec.member_pool][: spec.members + spec.cancelled]


def _ensure_categories() -> dict[str, Category]:
    found = {c.slug: c for c in db.session.scalars(select(Category))}
    for order, (slug, name_ja, name_en) in enumerate(CATEGORIES, start=1):
        if slug not in found:
            found[slug] = Category(slug=slug, name_ja=name_ja, name_en=name_en, sort_order=order)
            db.session.add(found[slug])
    db.session.flush()
    return found


def _ensure_venues() -> dict[str, Venue]:
    result = {}
    for key, values in VENUES.items():
        venue = db.session.scalar(select(Venue).where(Venue.name == values["name"]))
        if venue is None:
            venue = Venue(**values)
            db.session.add(venue)
        result[key] = venue
    db.session.flush()
    return result


def _local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=TOKYO).astimezone(UTC)


def _build_event(
    spec: DemoEvent, today: date, categories: dict[str, Category], venues: dict[str, Venue]
) -> Event:
    day = today + timedelta(days=spec.day_offset)
    if day.weekday() == 6 or (day.weekday() == 5 and spec.category in _WEEKDAY_ONLY):
        day += timedelta(days=7 - day.weekday())
    starts_at = _local(day, spec.start)
    opens_at = None
    if spec.opens_days_before is not None:
        opens_at = _local(day - timedelta(days=spec.opens_days_before), time(9, 0))
    closes_at = None
    if spec.closes_days_before is not None and spec.accepts_registrations:
        closes_at = _local(day - timedelta(days=spec.closes_days_before), time(17, 0))
    name_ja, name_en = DEFAULT_FRAME_NAMES
    frames = spec.frames or (DemoFrame(name_ja, name_en, spec.capacity),)
    return Event(
        slug=spec.slug,
        title=spec.title,
        title_en=spec.title_en,
        category=categories[spec.category],
        summary=spec.summary,
        body=spec.body,
        summary_en=spec.summary_en,
        body_en=spec.body_en,
        fee_text_en=spec.fee_text_en,
        cancellation_reason_en=spec.cancellation_reason_en,
        starts_at=starts_at,
        ends_at=_local(day, spec.end),
        venue=venues[spec.venue] if spec.venue else None,
        online_url=spec.online_url,
        capacity=spec.capacity,
        fee_text=spec.fee_text,
        registration_opens_at=opens_at,
        registration_closes_at=closes_at,
        accepts_registrations=spec.accepts_registrations,
        status=spec.status,
        is_members_only=spec.is_members_only,
        cancellation_reason=spec.cancellation_reason,
        uid=Event.new_uid(current_app.config["CALENDAR_UID_DOMAIN"]),
        frames=[
            Frame(
                name_ja=frame.name_ja,
                name_en=frame.name_en,
                capacity=frame.capacity,
                eligibility=frame.eligibility,
                fee_text=frame.fee_text,
                selection=frame.selection,
                max_companions=frame.max_companions,
                requires_approval=frame.requires_approval,
                sort_order=order,
            )
            for order, frame in enumerate(frames)
        ],
        frame_count=len(frames),
    )


def _add_questions(event: Event, spec: DemoEvent) -> None:
    for position, question in enumerate(spec.questions, start=1):
        db.session.add(
            EventQuestion(
                event_id=event.id,
                kind=question.kind,
                label_ja=question.label_ja,
                label_en=question.label_en,
                help_ja=question.help_ja,
                help_en=question.help_en,
                choices=[
                    {"key": str(key), "ja": ja, "en": en}
                    for key, (ja, en) in enumerate(question.choices, start=1)
                ],
                is_required=question.is_required,
                position=position,
            )
        )
    if spec.questions:
        event.question_count = len(spec.questions)
        event.questions_revision = 1
        db.session.flush()


#: Which choice of the first question the n-th registrant takes (else the first), and
#: the details they write for it.
_DEMO_CHOICES = {1: (1, "えび、かに"), 4: (2, ""), 7: (3, "辛いものが苦手です")}


def _demo_answers(
    event: Event, questions: list[EventQuestion], index: int
) -> answers.AnswerSet | None:
    """Answers that vary from one registrant to the next; most agree to the photographs."""
    choice, details = _DEMO_CHOICES.get(index, (0, ""))
    sent: dict[int, answers.Sent] = {}
    for question in questions:
        if question.kind == QuestionKind.one_choice:
            sent[question.id] = question.choices[choice]["key"]
        elif question.kind == QuestionKind.short_text:
            sent[question.id] = details
        elif question.kind == QuestionKind.agreement:
            sent[question.id] = index % 5 != 4
    return answers.checked_answers(event.questions_revision, questions, sent)


def _add_registrations(event: Event, spec: DemoEvent, seed: int, pool: list[MemberPerson]) -> None:
    """Confirmed people first, then the waiting list in order (positions 1..n), then
    those awaiting approval, with the event's counters set to match (people: a party
    counts the registrant and its companions); the first ``spec.members`` of them are
    members' people, and ``spec.cancelled`` more members' people cancelled. At an
    event that has ended, most confirmed people were checked in. They are all in the
    event's first frame (an event with several has none yet)."""
    total = spec.confirmed + spec.waiting + spec.pending
    assert len(event.frames) == 1 or not total + spec.cancelled
    frame = event.frames[0]
    now = utcnow()
    registered_at = min(event.starts_at - timedelta(days=3), now)
    ended = event.ends_at <= now
    companions = dict(spec.companions)
    questions = (
        list(
            db.session.scalars(
                select(EventQuestion)
                .where(EventQuestion.event_id == event.id)
                .order_by(EventQuestion.position)
            )
        )
        if spec.questions
        else []
    )
    answered: list[tuple[Registration, answers.AnswerSet | None]] = []
    seated = waiting = 0
    for index in range(total):
        if index < min(spec.members, len(pool)):
            registration = _member_registration(event, pool[index], spec, index)
        else:
            registration = _person(event, seed, index, spec.member_types)
        # Five hours apart, the last one five hours ago at the latest.
        registration.created_at = registered_at - timedelta(hours=(total - index) * 5)
        if questions:
            answered.append((registration, _demo_answers(event, questions, index)))
        registration.frame = frame
        _add_companions(registration, seed, index, companions.get(index, 0))
        if index >= spec.confirmed + spec.waiting:
            registration.status = RegistrationStatus.pending
        elif index >= spec.confirmed:
            registration.status = RegistrationStatus.waiting
            registration.waiting_position = index - spec.confirmed + 1
            waiting += registration.party_size
        else:
            registration.status = RegistrationStatus.confirmed
            registration.confirmed_at = registration.created_at
            if frame.requires_approval:
                # The office approved it the next morning (or by now).
                registration.decided_at = min(registration.created_at + timedelta(hours=18), now)
                registration.confirmed_at = registration.decided_at
            seated += registration.party_size
            if ended and index % _NO_SHOW_EVERY != _NO_SHOW_EVERY - 1:
                registration.checked_in_at = event.starts_at + timedelta(minutes=index % 15)
                for companion in registration.companions:
                    companion.checked_in_at = registration.checked_in_at
        db.session.add(registration)
    for index, person in enumerate(pool[spec.members :]):
        registration = _member_registration(event, person, spec, spec.members + index)
        registration.created_at = registered_at - timedelta(days=4, hours=index)
        registration.frame = frame
        registration.status = RegistrationStatus.cancelled
        registration.cancelled_at = registration.created_at + timedelta(days=2)
        db.session.add(registration)
    event.confirmed_count = frame.confirmed_count = seated
    event.waiting_count = frame.waiting_count = waiting
    frame.waiting_parties = spec.waiting
    db.session.flush()
    for registration, answer_set in answered:
        answers.insert(registration, answer_set)


def _add_companions(registration: Registration, seed: int, index: int, count: int) -> None:
    """``count`` companions (names and readings in hiragana, as the form stores them)."""
    for position in range(1, count + 1):
        surname, surname_kana = _SURNAMES[(seed * 11 + index * 3 + position * 5) % len(_SURNAMES)]
        given, given_kana = _GIVEN_NAMES[(seed * 3 + index + position * 7) % len(_GIVEN_NAMES)]
        registration.companions.append(
            RegistrationCompanion(
                position=position,
                name=f"{surname} {given}",
                name_kana=f"{surname_kana} {given_kana}",
            )
        )
    registration.party_size = 1 + count


def _member_registration(
    event: Event, person: MemberPerson, spec: DemoEvent, index: int
) -> Registration:
    """A member's person's registration: made signed in (always so for a members-only
    event), or with the public form and matched by address."""
    member = person.member
    signed_in = spec.is_members_only or index % 2 == 0
    registration = Registration(
        event=event,
        name=person.name,
        name_kana=person.name_kana,
        email=person.email,
        email_normalized=person.email_normalized,
        organization=member.name if member.kind == MemberKind.corporate else "",
        job_title=person.title,
        phone=person.phone,
        member_type=MemberType(member.kind),
        locale="ja",
        source="web",
        token_salt=new_token_salt(),
        member_person_id=person.id,
        member_link=MemberLink.verified if signed_in else MemberLink.matched,
    )
    registration.token_hash = hash_token(personal_token(registration))
    return registration


def _person(
    event: Event, seed: int, index: int, member_types: tuple[MemberType, ...]
) -> Registration:
    surname, surname_kana = _SURNAMES[(seed * 7 + index) % len(_SURNAMES)]
    given, given_kana = _GIVEN_NAMES[(seed * 5 + index * 3) % len(_GIVEN_NAMES)]
    email = f"demo{seed:02d}-{index:02d}@example.jp"
    registration = Registration(
        event=event,
        name=f"{surname} {given}",
        name_kana=f"{surname_kana} {given_kana}",
        email=email,
        email_normalized=email,
        organization=_ORGANIZATIONS[(seed + index) % len(_ORGANIZATIONS)],
        member_type=member_types[index % len(member_types)],
        phone=f"046-800-{seed:02d}{index:02d}",
        locale="ja",
        source="web",
        token_salt=new_token_salt(),
    )
    registration.token_hash = hash_token(personal_token(registration))
    return registration
