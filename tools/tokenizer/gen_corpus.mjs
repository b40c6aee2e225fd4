#!/usr/bin/env node
// Generates the tokenizer's exactness corpus and the reference token ids for it.
//
// The corpus is a deterministic function of the seed (a private PRNG, not Math.random), so every
// run on every machine makes the same bytes. The reference ids come from the npm package
// js-tiktoken (tests/tokenizer/package.json pins it), run here under node:
//   ids = encoding.encode(new TextDecoder('utf-8', {ignoreBOM: true}).decode(bytes), [], [])
// i.e. bytes are first decoded with U+FFFD for invalid UTF-8, and special-token text is
// tokenized as ordinary text.
//
// Usage: node tools/tokenizer/gen_corpus.mjs [--out DIR] [--seed N] [--count N] [--no-expect] [--stats]
//   --out DIR    where to write (default build/tokenizer)
//   --count N    number of generated strings besides the fixed edge cases (default 12000)
//   --stats      print how many strings each category got
// Writes DIR/corpus.bin and, unless --no-expect, DIR/expect_<encoding>.bin (the token ids) and
// DIR/pieces_<encoding>.bin (the pre-split: the UTF-8 length of each regex match, so the scanner
// is checked even where a wrong split happens to give the same ids). Formats (little-endian):
//   corpus.bin:  "TGCORP1\n", u32 n_categories, n_categories x (u32 len, name),
//                u32 n, n x (u32 category, u32 len, bytes)
//   expect_*.bin: "TGEXPT1\n", u32 n, n x (u32 count, count x u32 id)
//   pieces_*.bin: "TGPIEC1\n", u32 n, n x (u32 count, count x u32 byte length)

import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

function arg(name, dflt) {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : dflt;
}
const outDir = path.resolve(arg('--out', path.join(root, 'build/tokenizer')));
const SEED = Number(arg('--seed', '20261130'));
const COUNT = Number(arg('--count', '12000'));
const EXPECT = !process.argv.includes('--no-expect');

// ---- PRNG (sfc32, seeded through splitmix32) ----
function makeRng(seed) {
    let s = seed >>> 0;
    const sm = () => {
        s = (s + 0x9e3779b9) >>> 0;
        let z = s;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        return (z ^ (z >>> 16)) >>> 0;
    };
    let a = sm(), b = sm(), c = sm(), d = sm();
    const next = () => {
        const t = (((a + b) >>> 0) + d) >>> 0;
        d = (d + 1) >>> 0;
        a = b ^ (b >>> 9);
        b = (c + (c << 3)) >>> 0;
        c = ((c << 21) | (c >>> 11)) >>> 0;
        c = (c + t) >>> 0;
        return t;
    };
    const r = {
        u32: next,
        int: (n) => Math.floor((next() / 4294967296) * n), // [0, n)
        range: (lo, hi) => lo + Math.floor((next() / 4294967296) * (hi - lo + 1)), // [lo, hi]
        chance: (p) => next() / 4294967296 < p,
        pick: (arr) => arr[Math.floor((next() / 4294967296) * arr.length)],
    };
    return r;
}
const R = makeRng(SEED);

// ---- material ----
const WORDS = (
    'the of and to in is you that it he was for on are as with his they at be this have from ' +
    'or one had by word but not what all were we when your can said there use an each which she ' +
    'do how their if will up other about out many then them these so some her would make like ' +
    'him into time has look two more write go see number no way could people my than first water ' +
    'been call who oil its now find long down day did get come made may part over new sound take ' +
    'only little work know place year live me back give most very after thing our just name good ' +
    'sentence man think say great where help through much before line right too mean old any same ' +
    'tell boy follow came want show also around form three small set put end does another well ' +
    'large must big even such because turn here why ask went men read need land different home us ' +
    'move try kind hand picture again change off play spell air away animal house point page letter ' +
    'mother answer found study still learn should America world tokenizer gateway billing invoice ' +
    'latency throughput Kubernetes PostgreSQL JavaScript TypeScript OpenAI ChatGPT GPT-4o API ' +
    'naïve café résumé coöperate façade jalapeño Zürich São Paulo Ångström œuvre straße'
).split(' ');
const CONTRACTIONS = ["'s", "'S", "'t", "'T", "'re", "'rE", "'Re", "'RE", "'ve", "'vE", "'Ve", "'VE",
    "'m", "'M", "'ll", "'lL", "'Ll", "'LL", "'d", "'D", "'x", "'", "''", "’s", "’re", "'ſ", "'K"];
const SENTENCES = {
    zh: ['我们今天去公园散步，天气非常好。', '人工智能正在改变世界的许多行业。', '请问这个接口的速率限制是多少？',
        '他说：“明天再讨论这个问题吧！”', '数据库连接池已满，请稍后重试。', '中华人民共和国成立于1949年10月1日。',
        '这是一个用于测试分词器的句子，包含标点符号、数字123和English单词。', '繁體中文與簡體中文混合使用的例子。'],
    ja: ['今日はとても良い天気ですね。', 'このAPIはトークン数で課金されます。', '東京タワーの高さは333メートルです。',
        'ラーメンが食べたい！でも、ダイエット中なので我慢します…', 'カタカナとひらがなと漢字を混ぜた文章。',
        '「吾輩は猫である。名前はまだ無い。」', 'ｶﾀｶﾅ（半角）とＡＢＣ（全角）も試す。'],
    ko: ['안녕하세요, 만나서 반갑습니다.', '오늘 회의는 오후 3시에 시작합니다.', '토크나이저 테스트를 위한 한국어 문장입니다.',
        '한글은 세종대왕이 1443년에 창제했습니다.'],
    ar: ['مرحبا بالعالم، كيف حالك اليوم؟', 'الذكاء الاصطناعي يغير العالم.', 'السعر هو ١٢٣٤٥ ريال سعودي.',
        'بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ', 'هذا نص عربي مع English كلمات مختلطة.'],
    he: ['שלום עולם, מה שלומך?', 'הבינה המלאכותית משנה את העולם.', 'בְּרֵאשִׁית בָּרָא אֱלֹהִים'],
    ru: ['Привет, мир! Как дела?', 'Съешь же ещё этих мягких французских булок, да выпей чаю.',
        'Москва — столица России.', 'ПРОГРАММИРОВАНИЕ на языке Си.'],
    el: ['Γειά σου Κόσμε! Τι κάνεις;', 'Η τεχνητή νοημοσύνη αλλάζει τον κόσμο.', 'ΑΘΗΝΑ και Θεσσαλονίκη'],
    hi: ['नमस्ते दुनिया, आप कैसे हैं?', 'कृत्रिम बुद्धिमत्ता दुनिया को बदल रही है।', 'मूल्य ₹१२३४ है।'],
    th: ['สวัสดีชาวโลก วันนี้อากาศดีมาก', 'ปัญญาประดิษฐ์กำลังเปลี่ยนแปลงโลก', 'ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ'],
    vi: ['Xin chào thế giới! Hôm nay trời đẹp quá.', 'Trí tuệ nhân tạo đang thay đổi thế giới.',
        'Tiếng Việt có nhiều dấu thanh điệu: à á ả ã ạ.'],
    misc: ['Ǆemal ǅungla ǈubav', 'ʰello ˈwɜːld ʃ', 'ℌ𝔢𝔩𝔩𝔬 𝕎𝕠𝕣𝕝𝕕 𝐁𝐨𝐥𝐝', 'Ⅻ ⅷ ① ② ½ ¾ ² ³',
        'ᚠᛇᚻ᛫ᛒᛦᚦ ᚠᚱᚩᚠᚢᚱ', 'ꯃꯤꯇꯩ ꯃꯌꯦꯛ', '𓀀𓀁𓀂 hieroglyphs', 'ⴰⵣⵓⵍ ⴼⵍⴰⵡⵏ', 'ᐊᐃᑦᑕᓯ', 'ខ្មែរ', 'ລາວ', 'မြန်မာ',
        'ગુજરાતી', 'தமிழ் மொழி', 'ಕನ್ನಡ', 'മലയാളം', 'සිංහල', 'ქართული', 'Հայերեն', 'አማርኛ'],
};
const EMOJI = ['😀', '😂', '🥲', '👍', '👍🏻', '👍🏼', '👍🏽', '👍🏾', '👍🏿', '❤️', '❤', '🔥', '✨', '🚀',
    '👨‍👩‍👧‍👦', '👩🏽‍💻', '🏳️‍🌈', '🏴‍☠️', '🧑🏿‍🤝‍🧑🏻', '👨‍❤️‍💋‍👨', '🇺🇸', '🇯🇵', '🇪🇺', '1️⃣', '#️⃣',
    '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '©️', '™', '🤌', '🫠', '🫶🏽', '🧔‍♀️', '🐈‍⬛', '🦀', '😶‍🌫️', '🙂‍↕️', '⛹🏽‍♀️', '🕴️'];
const WS = [' ', ' ', ' ', '  ', '\t', '\n', '\n', '\r', '\r\n', '\n\n', '\u00a0', '\u3000', '\u2028',
    '\u2029', '\u0085', '\u000b', '\u000c', '\ufeff', '\u200b', '\u180e', '\u2003', '\u2009', '\u202f',
    '\u205f', '\u1680', '    ', '\t\t', ' \n', '\n ', ' \r\n '];
const PUNCT = ['.', ',', '!', '?', ';', ':', '-', '--', '—', '…', '(', ')', '[', ']', '{', '}', '"', "'",
    '`', '/', '\\', '@', '#', '$', '%', '^', '&', '*', '+', '=', '<', '>', '|', '~', '_', '«', '»', '¿',
    '¡', '、', '。', '・', '“', '”', '‘', '’', '§', '¶', '€', '£', '¥', '₹', '°', '±', '×', '÷', '→', '∑',
    '≠', '√', '∞', '·', '•', '■', '★', '♪', '⌘', '\u0301', '\u0308', '\u20dd', '\u00ad', '\u0000',
    '\u0007', '\u001b', '\u007f'];
const SPECIALS = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>',
    '<|endofprompt|>', '<|im_start|>', '<|start|>'];
const MARKS = ['\u0300', '\u0301', '\u0302', '\u0303', '\u0308', '\u030a', '\u0327', '\u0328', '\u0336',
    '\u0489', '\u064b', '\u0650', '\u093e', '\u0947', '\u0e31', '\u0e48', '\u20e3', '\ufe0f', '\u200d'];
const DIGITS = ['0123456789', '٠١٢٣٤٥٦٧٨٩', '۰۱۲۳۴۵۶۷۸۹', '०१२३४५६७८९', '０１２３４５６７８９',
    '𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗', '⁰¹²³⁴⁵⁶⁷⁸⁹', '₀₁₂₃₄₅₆₇₈₉', 'ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ', '①②③④⑤⑥⑦⑧⑨⑩', '〇一二三四五六七八九'];

// One or two members of each character class of the patterns (Lu, Lt, Ll, Lm, Lo, M, N, \s,
// CR/LF, other) and the characters the patterns name (' s t m d r e v l / space).
const SOUP = ['A', 'Z', 'ǅ', 'ᾈ', 'a', 'z', 'ʰ', 'ᵃ', '中', 'ª', '\u0301', '\u093e', '\u20dd', '1', '²',
    'Ⅻ', ' ', ' ', '\t', '\u00a0', '\u3000', '\n', '\r', '!', '.', '/', '😀', "'", "'", 's', 'S', 't',
    'M', 'd', 'r', 'E', 'v', 'l', 'L', '\u0085', '\ufeff'];

// ---- helpers ----
const rep = (n, f) => Array.from({ length: n }, f).join('');
const letters = 'abcdefghijklmnopqrstuvwxyz';
function ident() {
    const parts = rep(R.range(1, 3), () => R.pick(WORDS.slice(0, 120)) + ' ').trim().split(' ');
    switch (R.int(4)) {
    case 0: return parts.join('_');
    case 1: return parts.map((p, i) => (i ? p[0].toUpperCase() + p.slice(1) : p)).join('');
    case 2: return parts.map((p) => p[0].toUpperCase() + p.slice(1)).join('');
    default: return parts.join('_').toUpperCase();
    }
}
function word() {
    let w = R.pick(WORDS);
    const r = R.int(20);
    if (r === 0) w = w.toUpperCase();
    else if (r === 1) w = w[0].toUpperCase() + w.slice(1);
    else if (r === 2) w = w.split('').map((c) => (R.chance(0.5) ? c.toUpperCase() : c)).join('');
    if (R.chance(0.06)) w += R.pick(CONTRACTIONS);
    return w;
}
function number() {
    switch (R.int(10)) {
    case 0: return String(R.int(10));
    case 1: return String(R.u32());
    case 2: return rep(R.range(4, 60), () => String(R.int(10)));
    case 3: return (R.u32() / 1000).toFixed(R.int(6));
    case 4: return (R.chance(0.5) ? '-' : '+') + R.int(1e6).toLocaleString('en-US');
    case 5: return '0x' + R.u32().toString(16).toUpperCase();
    case 6: return `${R.range(1900, 2099)}-${String(R.range(1, 12)).padStart(2, '0')}-${String(R.range(1, 28)).padStart(2, '0')}`;
    case 7: return `${R.int(10)}.${R.int(1000)}e${R.chance(0.5) ? '-' : ''}${R.int(300)}`;
    case 8: { const d = R.pick(DIGITS); return rep(R.range(1, 12), () => R.pick([...d])); }
    default: return `+1 (${R.range(200, 999)}) ${R.range(200, 999)}-${R.range(1000, 9999)}`;
    }
}
function sentence() {
    let s = rep(R.range(3, 18), () => {
        const r = R.int(30);
        if (r === 0) return number() + ' ';
        if (r === 1) return R.pick(PUNCT) + ' ';
        return word() + (R.chance(0.1) ? ', ' : ' ');
    }).trim();
    s = s[0].toUpperCase() + s.slice(1);
    return s + R.pick(['.', '.', '.', '!', '?', '...', ':', '', '."', '?!']);
}
function randomCodePoint() {
    for (;;) {
        let cp;
        const r = R.int(10);
        if (r < 4) cp = R.range(0x20, 0x7ff);
        else if (r < 8) cp = R.range(0x800, 0xffff);
        else if (r < 9) cp = R.range(0x10000, 0x2ffff);
        else cp = R.range(0, 0x10ffff);
        if (cp >= 0xd800 && cp <= 0xdfff) continue; // no lone surrogates: not encodable as UTF-8
        return String.fromCodePoint(cp);
    }
}
function scriptText(lang) {
    return rep(R.range(1, 4), () => R.pick(SENTENCES[lang]) + R.pick(['', ' ', '\n', '', '']));
}
function randomUtf8Bytes(n) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = R.int(256);
    return b;
}
const BAD = [
    [0x80], [0xbf], [0xc0, 0xaf], [0xc1, 0xbf], [0xc2], [0xdf], [0xe0, 0x80, 0xaf], [0xe0, 0xa0],
    [0xe1, 0x80], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80],
    [0xef, 0xbf], [0xf0, 0x80, 0x80, 0xaf], [0xf0, 0x90, 0x80], [0xf4, 0x90, 0x80, 0x80],
    [0xf5, 0x80, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
    [0xfe], [0xff], [0xff, 0xfe], [0xef, 0xbb, 0xbf], [0xe2, 0x82], [0xf0, 0x9f, 0x98],
    [0xf0, 0x9f, 0x98, 0x41], [0xc3, 0x28], [0xa0, 0xa1], [0xe2, 0x28, 0xa1], [0xf0, 0x28, 0x8c, 0xbc],
];

// ---- categories: each returns a string or a Buffer ----
const CATS = {
    english: () => rep(R.range(1, 6), () => sentence() + R.pick([' ', ' ', '\n', '\n\n', '  '])),
    contractions: () => rep(R.range(2, 12), () => {
        const r = R.int(6);
        const w = r === 0 ? word().toUpperCase() : r === 1 ? String(R.int(2000)) : word();
        return R.pick(['', ' ', ' ', '\n', '"']) + w + R.pick(CONTRACTIONS) + R.pick(['', 's', 'ss', 'x', ' ', "'s"]);
    }),
    mixed_case: () => rep(R.range(2, 10), () => {
        const r = R.int(5);
        if (r === 0) return ident() + R.pick([' ', '.', '(', '_']);
        if (r === 1) return R.pick(['ǅ', 'ǈ', 'ǋ', 'ᾈ', 'Ǆ', 'ʰ', 'ˆ', 'ᵃ', 'ǂ', 'ª']) + word();
        if (r === 2) return word().toUpperCase() + word() + R.pick(MARKS) + word().toUpperCase();
        if (r === 3) return 'É' + R.pick(MARKS) + word() + 'ÇA' + R.pick(CONTRACTIONS);
        return R.pick(SENTENCES.misc) + ' ';
    }),
    chinese: () => scriptText('zh'),
    japanese: () => scriptText('ja'),
    korean: () => scriptText('ko'),
    arabic: () => scriptText('ar'),
    hebrew: () => scriptText('he'),
    cyrillic: () => scriptText('ru'),
    greek: () => scriptText('el'),
    hindi: () => scriptText('hi'),
    thai: () => scriptText('th'),
    vietnamese: () => { const s = scriptText('vi'); return R.chance(0.5) ? s.normalize('NFD') : s; },
    scripts: () => rep(R.range(1, 5), () => R.pick(SENTENCES[R.pick(Object.keys(SENTENCES))]) + R.pick([' ', '', '\n'])),
    code_c: () => {
        const f = ident(), v = ident();
        const ind = R.pick(['    ', '\t', '  ']);
        const nl = R.chance(0.2) ? '\r\n' : '\n';
        return [`#include <stdio.h>`, ``, `static int ${f}(const char *${v}, size_t n)`, `{`,
            `${ind}for (size_t i = 0; i < n; i++) {`, `${ind}${ind}if (${v}[i] == '\\n' && i != ${number()})`,
            `${ind}${ind}${ind}return -1; /* ${sentence()} */`, `${ind}}`, `${ind}printf("%zu\\n", n);`,
            `${ind}return 0;`, `}`, ``].join(nl);
    },
    code_py: () => {
        const f = ident().toLowerCase(), v = ident().toLowerCase();
        return [`def ${f}(${v}: list[int], *, strict=False) -> dict:`, `    """${sentence()}"""`,
            `    out = {k: v ** 2 for k, v in enumerate(${v}) if v % ${R.range(2, 9)} == 0}`,
            `    if not out and strict:`, `        raise ValueError(f"empty: {${v}!r}")`,
            `    return out  # ${word()}'s result`, ``, `print(${f}([${number()}, 2, 3]))`, ``].join('\n');
    },
    code_js: () => {
        const f = ident();
        return [`export async function ${f}(req, res) {`, `  const { ${ident()}, ...rest } = await req.json();`,
            `  if (!rest?.items?.length) return res.status(${R.range(200, 599)}).send(\`\${${ident()}} not found\`);`,
            `  const total = rest.items.reduce((a, b) => a + b.price * 1e-${R.int(9)}, 0);`,
            `  // TODO(${word()}): ${sentence()}`, `  return total >= 0 ? total : null;`, `}`].join('\n');
    },
    code_rust: () => [`fn ${ident().toLowerCase()}<'a, T: Clone>(xs: &'a [T]) -> Option<&'a T> {`,
        `    let n = xs.len(); // ${sentence()}`, `    xs.iter().rev().nth(n / ${R.range(2, 5)})`, `}`,
        `impl<'de> Deserialize<'de> for ${ident()} {}`, `#[derive(Debug)] struct S { v: Vec<u8> }`].join('\n'),
    code_go: () => [`package main`, ``, `import "fmt"`, ``, `func ${ident()}(ch chan<- int, n int) error {`,
        `\tfor i := 0; i < n; i++ {`, `\t\tch <- i * ${number()}`, `\t}`, `\tfmt.Printf("%d items\\n", n)`,
        `\treturn nil`, `}`].join('\n'),
    code_sql: () => `SELECT u.id, COUNT(*) AS n, SUM(l.amount_nanos)/1e9 AS usd\nFROM users u\n` +
        `  JOIN ledger l ON l.user_id = u.id\nWHERE l.created_at >= '${number()}' AND u.name LIKE '%${word()}%'\n` +
        `GROUP BY u.id HAVING n > ${R.int(100)}\nORDER BY usd DESC LIMIT ${R.range(1, 50)};`,
    code_html: () => `<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>${sentence()}</title></head>\n` +
        `<body>\n  <div class="${ident()}" data-id="${number()}">&nbsp;${sentence()} &amp; &lt;ok&gt;</div>\n` +
        `  <script>window.__X__ = ${JSON.stringify({ a: word(), b: [1, 2] })};</script>\n</body>\n</html>\n`,
    code_shell: () => `#!/usr/bin/env bash\nset -euo pipefail\nfor f in ./src/**/*.c; do\n` +
        `  gcc -O2 -Wall "$f" -o "\${f%.c}" && echo "ok: $f" || { echo >&2 "fail"; exit 1; }\ndone\n` +
        `curl -sS -H 'Authorization: Bearer sk-${R.u32().toString(36)}' https://api.example.com/v1/${word()} | jq '.data[] | .id'\n`,
    markdown: () => `# ${sentence()}\n\n${sentence()} ${sentence()}\n\n- **${word()}**: ${sentence()}\n` +
        `- _${word()}_ \`${ident()}()\`\n  1. ${sentence()}\n\n| a | b |\n|---|---|\n| ${number()} | ${word()} |\n\n` +
        '```python\nprint("hi")\n```\n> ' + sentence() + '\n',
    emoji: () => rep(R.range(1, 12), () => {
        const r = R.int(4);
        if (r === 0) return R.pick(EMOJI) + R.pick(EMOJI);
        if (r === 1) return word() + R.pick(EMOJI) + R.pick(['', ' ', '!']);
        if (r === 2) return ' ' + R.pick(EMOJI) + R.pick(['🏻', '🏼', '🏽', '🏾', '🏿', '\u200d', '\ufe0f', '']);
        return R.pick(EMOJI) + ' ';
    }),
    whitespace: () => rep(R.range(1, 16), () => {
        const r = R.int(5);
        if (r < 2) return rep(R.range(1, 4), () => R.pick(WS));
        if (r === 2) return word();
        if (r === 3) return R.pick(PUNCT);
        return number();
    }),
    whitespace_end: () => word() + rep(R.range(1, 6), () => R.pick(WS)),
    numbers: () => rep(R.range(1, 8), () => number() + R.pick([' ', ', ', '\n', '', 'px', '%', '.'])),
    urls: () => rep(R.range(1, 4), () => {
        const r = R.int(6);
        if (r === 0) return `https://${word().toLowerCase()}.example.com/${ident()}/${number()}?q=${word()}&lang=en#sec-${R.int(9)} `;
        if (r === 1) return `${word().toLowerCase()}.${word().toLowerCase()}+tag@example.org `;
        if (r === 2) return `/usr/local/${word()}//bin/${ident()}.so\n/etc/\n//\n`;
        if (r === 3) return `C:\\Users\\${word()}\\AppData\\Local\\${ident()}.exe `;
        if (r === 4) return `git@github.com:${word()}/${ident()}.git ssh://h/${word()}/ `;
        return `s3://bucket/${number()}/${word()}.json?X-Amz-Signature=${R.u32().toString(16)}${R.u32().toString(16)} `;
    }),
    json: () => {
        const gen = (d) => {
            const r = R.int(d > 2 ? 4 : 7);
            if (r === 0) return sentence();
            if (r === 1) return R.chance(0.5) ? R.int(1e6) : R.u32() / 7;
            if (r === 2) return R.pick([true, false, null]);
            if (r === 3) return word();
            if (r < 6) { const o = {}; for (let i = R.range(0, 5); i > 0; i--) o[ident()] = gen(d + 1); return o; }
            return Array.from({ length: R.range(0, 5) }, () => gen(d + 1));
        };
        return JSON.stringify({ [ident()]: gen(0), model: 'gpt-4o-mini', messages: [{ role: 'user', content: sentence() }] },
            null, R.pick([0, 0, 2, 4, '\t']));
    },
    random_unicode: () => rep(R.range(1, 40), randomCodePoint),
    random_unicode_words: () => rep(R.range(1, 10), () => rep(R.range(1, 6), randomCodePoint) + R.pick(WS)),
    random_ascii: () => rep(R.range(1, 60), () => String.fromCharCode(R.int(128))),
    marks: () => rep(R.range(1, 8), () => {
        const r = R.int(4);
        const base = r === 0 ? R.pick(WS) : r === 1 ? String(R.int(10)) : r === 2 ? R.pick(PUNCT) : R.pick([...letters, 'Z', 'ß', 'Ж']);
        return base + rep(R.range(0, 6), () => R.pick(MARKS));
    }),
    specials: () => sentence() + R.pick(SPECIALS) + R.pick(['', ' ', '\n']) + sentence() + R.pick(SPECIALS),
    invalid_utf8: () => {
        const parts = [];
        for (let i = R.range(1, 8); i > 0; i--) {
            const r = R.int(4);
            if (r === 0) parts.push(Buffer.from(R.pick(BAD)));
            else if (r === 1) parts.push(Buffer.from(word() + R.pick(WS), 'utf8'));
            else if (r === 2) parts.push(randomUtf8Bytes(R.range(1, 12)));
            else { // a valid multi-byte character cut short, or with a byte swapped
                const b = Buffer.from(R.pick(['é', '中', '😀', '€', 'Ж', '👍🏽']), 'utf8');
                if (R.chance(0.5)) parts.push(b.subarray(0, R.range(1, b.length - 1)));
                else { const c = Buffer.from(b); c[R.int(c.length)] = R.int(256); parts.push(c); }
            }
        }
        return Buffer.concat(parts);
    },
    random_bytes: () => randomUtf8Bytes(R.range(1, 80)),
    class_soup: () => { // every class the patterns tell apart, in random order
        const n = R.range(1, 30);
        return rep(n, () => R.pick(SOUP));
    },
    long_pieces: () => { // pieces over TG_TOK_PIECE_STACK bytes take the heap merge path
        const r = R.int(8);
        const n = R.range(200, 1400);
        if (r === 0) return ' ' + rep(n, () => R.pick([...letters]));
        if (r === 1) return rep(Math.floor(n / 3), () => R.pick([...'的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年']));
        if (r === 2) return rep(n, () => R.pick(['!', '=', '-', '*', '#', '.', '~']));
        if (r === 3) return rep(n, () => R.pick([' ', ' ', '\t'])) + 'x';
        if (r === 4) return rep(Math.floor(n / 2), () => R.pick([...'абвгдежзийклмнопрстуфхцчшщъыьэюя']));
        if (r === 5) return word().toUpperCase().repeat(Math.floor(n / 5));
        if (r === 6) return 'data:image/png;base64,' + Buffer.from(rep(n, () => String.fromCharCode(R.int(256))), 'latin1').toString('base64');
        return rep(Math.floor(n / 3), () => R.pick([...'ดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ่้๊๋ัิีึื']));
    },
};

const WEIGHTS = {
    english: 10, contractions: 5, mixed_case: 5, chinese: 4, japanese: 4, korean: 2, arabic: 3,
    hebrew: 2, cyrillic: 2, greek: 2, hindi: 2, thai: 2, vietnamese: 2, scripts: 3, code_c: 2,
    code_py: 2, code_js: 2, code_rust: 2, code_go: 1, code_sql: 1, code_html: 1, code_shell: 1,
    markdown: 2, emoji: 5, whitespace: 6, whitespace_end: 2, numbers: 5, urls: 3, json: 3,
    random_unicode: 5, random_unicode_words: 3, random_ascii: 3, marks: 3, specials: 1,
    invalid_utf8: 6, random_bytes: 2, long_pieces: 1, class_soup: 8,
};

// Hand-picked edge cases for the pre-split, then every single byte.
const EDGE = ['', ' ', '  ', '\n', '\r\n', '\n\n\n', ' \n', '\n ', ' \n ', 'x ', 'x  ', 'x  \n', 'x \n  ',
    '  x', '\t\tx', '\u00a0x', '\u3000x', "'", "''", "'s", "''s", " 's", "a's", "A'S", "'S'S", "'ll'", "'lL",
    "x'", "x'r", "x're", '!!!', '!!!\n\n', ' !\n/', '!/\n/', ' !!\n\r\n/x', '1', '1234', '1234567', 'A1B2C3',
    'ABC', 'ABCdef', 'abcDEF', 'AbC', 'É\u0301', '\u0301', '\u0301a', ' \u0301', ' \u0301a', 'a\u0301\u0301',
    'ǅa', 'Aǅ', 'ʰʰ', 'ʰA', 'Aʰ', 'aʰA', '中文', ' 中文', 'x\u200dy', '\ufeffhello', 'hello\ufeff',
    '\u0085x', 'x\u0085', '<|endoftext|>', ' <|endoftext|> ', '\r', '\r\r\n\n', '\t\n\t', '🙂🙂', ' 🙂',
    '1️⃣2️⃣', 'HTTP/1.1', 'I\'M', 'WE\'RE', 'they\'Ve', 'Don\'t', 'ЁЖ\'s', '٣٤٥', '..//..//'];

// ---- generate ----
const names = Object.keys(CATS);
const items = []; // [category index, Buffer]
const edgeCat = names.length, byteCat = names.length + 1;
for (const s of EDGE) items.push([edgeCat, Buffer.from(s, 'utf8')]);
for (let b = 0; b < 256; b++) items.push([byteCat, Buffer.from([b])]);
const wsum = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
for (let i = 0; i < COUNT; i++) {
    let r = R.int(wsum), c = 0;
    while (r >= WEIGHTS[names[c]]) r -= WEIGHTS[names[c++]];
    const v = CATS[names[c]]();
    items.push([c, Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8')]);
}
const catNames = [...names, 'edge_cases', 'single_bytes'];

function u32(n) { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; }
mkdirSync(outDir, { recursive: true });
const corpus = [Buffer.from('TGCORP1\n', 'latin1'), u32(catNames.length)];
for (const n of catNames) corpus.push(u32(Buffer.byteLength(n)), Buffer.from(n));
corpus.push(u32(items.length));
for (const [c, b] of items) corpus.push(u32(c), u32(b.length), b);
const corpusBuf = Buffer.concat(corpus);
writeFileSync(path.join(outDir, 'corpus.bin'), corpusBuf);
const perCat = new Map();
for (const [c] of items) perCat.set(catNames[c], (perCat.get(catNames[c]) ?? 0) + 1);
console.log(`corpus: ${items.length} strings, ${corpusBuf.length} bytes, seed ${SEED} -> ${path.relative(process.cwd(), outDir)}/corpus.bin`);

if (EXPECT) {
    const req = createRequire(path.join(root, 'tests/tokenizer/package.json'));
    const { Tiktoken } = req('js-tiktoken/lite');
    const pkg = JSON.parse(
        (await import('node:fs')).readFileSync(path.join(root, 'tests/tokenizer/node_modules/js-tiktoken/package.json'), 'utf8'));
    const dec = new TextDecoder('utf-8', { ignoreBOM: true });
    for (const name of ['cl100k_base', 'o200k_base']) {
        const ranks = req(`js-tiktoken/ranks/${name}`);
        const enc = new Tiktoken(ranks.default ?? ranks);
        const t0 = process.hrtime.bigint();
        const out = [Buffer.from('TGEXPT1\n', 'latin1'), u32(items.length)];
        const pieces = [Buffer.from('TGPIEC1\n', 'latin1'), u32(items.length)];
        const pat = new RegExp((ranks.default ?? ranks).pat_str, 'ug');
        let total = 0;
        for (const [, b] of items) {
            const text = dec.decode(b);
            const lens = Array.from(text.matchAll(pat), (m) => Buffer.byteLength(m[0]));
            const pb = Buffer.alloc(4 + 4 * lens.length);
            pb.writeUInt32LE(lens.length, 0);
            lens.forEach((l, k) => pb.writeUInt32LE(l, 4 + 4 * k));
            pieces.push(pb);
            const ids = enc.encode(text, [], []);
            total += ids.length;
            const buf = Buffer.alloc(4 + 4 * ids.length);
            buf.writeUInt32LE(ids.length, 0);
            ids.forEach((id, k) => buf.writeUInt32LE(id, 4 + 4 * k));
            out.push(buf);
        }
        writeFileSync(path.join(outDir, `expect_${name}.bin`), Buffer.concat(out));
        writeFileSync(path.join(outDir, `pieces_${name}.bin`), Buffer.concat(pieces));
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        console.log(`reference ${name}: ${total} tokens from js-tiktoken@${pkg.version} under node ${process.versions.node} ` +
            `(Unicode ${process.versions.unicode}) in ${ms.toFixed(0)} ms`);
    }
}
if (process.argv.includes('--stats'))
    for (const [n, k] of [...perCat].sort()) console.log(`  ${n}: ${k}`);
