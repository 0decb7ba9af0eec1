# ruff: noqa: E501  (long hand-written sentences are data)
"""Generate the demo customer-support intent corpus for textcnn.

The corpus is written from scratch for this project; no third-party data is
used. It combines hand-written sentences with sentences generated from
hand-written phrase pieces (openers, intent-specific cores with slots and
alternations, follow-up asks, closers) under a fixed random seed.

Outputs (next to this script):

* ``support_train.jsonl``: balanced training split.
* ``support_test.jsonl``: balanced held-out split. It holds out a share of the
  hand-written sentences, every sentence built from a few test-only core
  templates, and a random 20% of the remaining generated sentences. No text
  (after normalisation) appears in both splits.

Run with ``python data/demo/make_support_corpus.py``; the output is
deterministic.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

SEED = 2014
OUT_DIR = Path(__file__).resolve().parent
TRAIN_PATH = OUT_DIR / "support_train.jsonl"
TEST_PATH = OUT_DIR / "support_test.jsonl"

LABELS: tuple[str, ...] = (
    "billing",
    "technical_issue",
    "account_access",
    "shipping",
    "cancellation",
    "feedback",
)

TRAIN_PER_LABEL = 150
TEST_PER_LABEL = 40
HAND_TEST_PER_LABEL = 12
HELDOUT_CORES_PER_LABEL = 4
HELDOUT_CORE_SENTENCES = 10
MAX_USES_PER_CORE = 7
MAX_JACCARD = 0.7
TYPO_RATE = 0.08

# ---------------------------------------------------------------------------
# Slot fillers shared by all intents.
# ---------------------------------------------------------------------------

PRODUCTS = (
    "Nimbus Pro",
    "AeroBuds",
    "Lumen lamp",
    "SmartHub X2",
    "Kettle One",
    "TrailCam 4K",
    "Pulse watch",
    "router",
    "blender",
    "smart plug",
    "Nimbus Mini",
    "thermostat",
    "e-reader",
    "desk fan",
)
APPS = (
    "app",
    "mobile app",
    "desktop app",
    "iOS app",
    "android app",
    "web dashboard",
    "browser extension",
    "website",
)
PLANS = (
    "premium plan",
    "basic plan",
    "family plan",
    "pro subscription",
    "annual plan",
    "team plan",
    "student plan",
    "monthly membership",
)
COUNTRIES = (
    "Canada",
    "Germany",
    "Ireland",
    "Australia",
    "Mexico",
    "Norway",
    "Japan",
    "Portugal",
    "New Zealand",
    "Poland",
)
DAYS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "the weekend",
    "yesterday",
    "last week",
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
NAMES = ("Priya", "Tom", "Alex", "Maria", "Sam", "Jordan", "Lena", "Omar")
BROWSERS = ("Chrome", "Firefox", "Safari", "Edge")
DEVICES = (
    "iPhone 12",
    "iPhone 15",
    "Pixel 7",
    "Galaxy S23",
    "iPad",
    "old laptop",
    "work laptop",
    "Chromebook",
    "MacBook",
)


def _order(rng: random.Random) -> str:
    n = rng.randint(10000, 99999)
    fmt = rng.choice(("#{n}", "order #{n}", "order {n}", "ORD-{n}", "order no. {n}"))
    return fmt.format(n=n)


def _amount(rng: random.Random) -> str:
    whole = rng.choice((4, 9, 12, 15, 19, 24, 29, 39, 49, 59, 79, 99, 120, 249))
    cents = rng.choice(("", ".99", ".00", ".49", ".50"))
    cur = rng.choice(("$", "$", "€", "£"))
    if rng.random() < 0.15:
        return f"{whole}{cents} dollars" if cur == "$" else f"{whole} euros"
    return f"{cur}{whole}{cents}"


SLOTS: dict[str, Callable[[random.Random], str]] = {
    "product": lambda r: r.choice(PRODUCTS),
    "app": lambda r: r.choice(APPS),
    "plan": lambda r: r.choice(PLANS),
    "country": lambda r: r.choice(COUNTRIES),
    "day": lambda r: r.choice(DAYS),
    "month": lambda r: r.choice(MONTHS),
    "name": lambda r: r.choice(NAMES),
    "browser": lambda r: r.choice(BROWSERS),
    "device": lambda r: r.choice(DEVICES),
    "order": _order,
    "amount": _amount,
    "n": lambda r: str(r.randint(2, 14)),
    "pct": lambda r: str(r.choice((12, 37, 45, 60, 80, 99))),
    "err": lambda r: r.choice(("E102", "0x80004005", "500", "403", "ERR_SYNC_7", "E-2209")),
    "version": lambda r: f"{r.randint(2, 9)}.{r.randint(0, 12)}",
    "code": lambda r: r.choice(("SPRING20", "WELCOME10", "SAVE15", "FRIENDS5")),
}

# ---------------------------------------------------------------------------
# Shared phrase pieces (deliberately intent-neutral).
# ---------------------------------------------------------------------------

OPENERS = (
    "",
    "",
    "",
    "",
    "",
    "",
    "hi,",
    "hello,",
    "hey,",
    "hi there,",
    "good morning,",
    "hi team,",
    "dear support,",
    "hello support team,",
    "ok so",
    "quick question,",
    "ugh.",
    "sorry to bother you but",
    "not sure who to ask, but",
    "this is the third time i'm writing about this.",
    "hey guys,",
    "i hope someone can help.",
    "seriously?",
    "hello, hope you're well.",
    "evening,",
    "so,",
    "um, hi.",
)
CONTEXTS = (
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "i've been a customer for {n} years.",
    "i'm on the {plan}.",
    "i bought the {product} last {month}.",
    "this is about {order}.",
    "i'm using my {device}.",
    "my husband set this up for us.",
    "i run a small shop and use you daily.",
    "i got the {product} as a gift.",
    "i'm writing from my work email.",
    "it's about the {product}.",
    "i already spoke to {name} in chat.",
    "i'm on the {app} right now.",
)
CLOSERS = (
    "",
    "",
    "",
    "",
    "",
    "",
    "thanks",
    "thanks!",
    "thank you.",
    "thx",
    "please help.",
    "asap please",
    "appreciate it.",
    "let me know.",
    "cheers",
    "regards, {name}",
    "this is ridiculous.",
    "any update?",
    "thanks in advance.",
    "ty",
    "waiting for your reply.",
    "pls",
    "hope to hear back soon.",
)

# ---------------------------------------------------------------------------
# Intent-specific pieces. ``[a|b]`` is an alternation, ``{slot}`` a slot.
# The first HELDOUT_CORES_PER_LABEL cores of each intent are reserved for the
# test split (chosen by the seeded shuffle below, not by position).
# ---------------------------------------------------------------------------

CORES: dict[str, tuple[str, ...]] = {
    "billing": (
        "i was charged twice for {order}",
        "my card got billed {amount} but [the price was|i expected] {amount}",
        "there's a charge of {amount} on my [statement|bank app] that i don't recognize",
        "why did my [invoice|bill] go up this month",
        "the price of the {plan} changed without any notice",
        "i need a copy of my invoice for {month}",
        "[can you|how do i] update the credit card on file",
        "my payment [keeps getting|was] declined even though the card is fine",
        "the promo code {code} didn't come off the total",
        "the tax on my receipt looks wrong",
        "i'd like a refund for the [double charge|duplicate payment] of {amount}",
        "how do i switch from monthly to [annual|yearly] billing",
        "is there a [student|nonprofit|teacher] discount on the {plan}",
        "my bank shows a pending charge of {amount} from you",
        "can i pay with [paypal|apple pay|a bank transfer] instead of a card",
        "i need our VAT number added to [my|the] invoices",
        "the receipt for {order} shows the wrong billing address",
        "i got billed for {n} seats but we only use two",
        "i was overcharged [on|for] {order}",
        "where can i download [past|old] invoices",
        "i upgraded mid-month and [got|was] charged the full price",
        "the refund for {order} never [arrived|showed up] on my card",
        "what payment methods do you accept",
        "why is there a {amount} [late fee|service fee|processing fee]",
        "my {plan} renewed at a higher price than advertised",
        "the invoice amount doesn't match what the checkout page said",
        "i was charged in dollars instead of euros",
        "you [took|charged] {amount} from my account [twice|two times]",
        "i paid {amount} but the order total was {amount}",
        "when is my next payment [due|taken]",
        "the [store credit|gift card] wasn't applied to my bill",
        "i don't understand the charges on this [invoice|statement]",
        "[billing|payment] page says my balance is {amount}, is that right",
        "i was billed after my discount period [ended|ran out] without warning",
    ),
    "technical_issue": (
        "the {app} crashes as soon as i open it",
        "the {product} won't connect to [wifi|bluetooth] anymore",
        "i keep getting error {err} when i try to [save|upload|log my data]",
        "the page just spins forever after i click submit",
        "since the last update the {product} keeps restarting",
        "the sync between the {app} and my {device} is broken",
        "notifications stopped working on my {device}",
        "the {product} battery drains in [about|like] {n} hours",
        "the export to [pdf|csv] button does nothing",
        "uploads fail at {pct}% every time",
        "the screen on my {product} [flickers|goes dark] randomly",
        "pairing the {product} with my {device} fails",
        "the dashboard shows [blank|empty] charts",
        "search returns nothing even for things i know exist",
        "the {app} freezes on the loading screen",
        "the firmware update [got stuck|froze] at {pct}%",
        "the api returns a {err} error for every request",
        "videos won't play, just a black screen",
        "i get a 'something went wrong' message when i open settings in the {app}",
        "audio cuts out on my {product} every few minutes",
        "the {app} has been [really|super] slow since version {version}",
        "data i [entered|saved] on {day} has disappeared",
        "the {product} won't turn on even when fully charged",
        "my files won't open after [the|today's] update",
        "the {app} doesn't work in {browser}",
        "the {product} shows offline in the {app} but it's [plugged in|on]",
        "the {app} closes itself [whenever|every time] i switch tabs",
        "the buttons on the {product} stopped responding",
        "the {app} uses all my cpu and the fan goes crazy",
        "the integration with [google calendar|slack|dropbox] stopped syncing",
        "the [camera|mic] isn't detected by the {app}",
        "reinstalling the {app} didn't fix the crash",
        "the {product} makes a [clicking|buzzing] noise and then shuts off",
        "is the [server|service] down? nothing is loading",
    ),
    "account_access": (
        "i can't [log in|sign in] to my account",
        "the password reset email never arrives",
        "my account got locked after too many [attempts|wrong passwords]",
        "the reset link [is expired|says invalid token] when i click it",
        "i no longer have access to the email on my account",
        "the two-factor code never [shows up|arrives] on my {device}",
        "i lost my phone with the authenticator app on it",
        "it says my username doesn't exist but i've had an account for {n} years",
        "someone changed my password, i think my account was [hacked|compromised]",
        "i'm stuck in a login loop, it keeps sending me back to the sign-in page",
        "how do i change the email address [on|linked to] my account",
        "my account was [suspended|disabled] and i don't know why",
        "i can't sign in with [google|apple|facebook] anymore",
        "the verification code says invalid every time",
        "i was logged out and now it won't accept my password",
        "[can you|please] unlock my account",
        "there was a [login|sign-in] from another country that wasn't me",
        "my security questions don't work",
        "i can't get into my old account after changing phone numbers",
        "i created two accounts by mistake and can't tell which one i can log into",
        "the invite link to join my team's workspace says access denied",
        "i get 'incorrect credentials' even though i just reset my password",
        "our sso login fails for [my|our] company account",
        "i need admin access back on our [team|business] account",
        "i can't log into the {app} but the website works",
        "the [one-time|login] code text message never comes",
        "how do i get back into my account without my old phone",
        "my password manager [filled in|saved] the wrong password and now i'm locked out",
        "i need to reset my password but i don't remember my username",
        "it says this email is already registered but i can't log in with it",
        "my account shows 'access revoked' when i try to sign in",
        "i'm not getting the [magic link|sign-in link] email",
        "how do i log out every other device from my account",
    ),
    "shipping": (
        "where is my order {order}",
        "tracking hasn't updated in {n} days",
        "the package says delivered but it's not here",
        "my {product} arrived [damaged|broken|cracked]",
        "i received the wrong item in {order}",
        "can i change the delivery address for {order}",
        "how long does shipping to {country} take",
        "do you ship to {country}",
        "the courier left my parcel at the wrong house",
        "part of my order is missing, the {product} wasn't in the box",
        "my order still shows processing after {n} days",
        "can i get express delivery on {order}",
        "the box was [open|torn] when it arrived",
        "delivery was supposed to be {day} and nothing came",
        "can i pick the package up [myself|from a store] instead",
        "customs is holding my package [in {country}|at the border]",
        "the tracking number you sent doesn't work",
        "i need the {product} by {day}, will it arrive in time",
        "my order was split into two shipments and only one arrived",
        "the driver never rang the bell and took the parcel back",
        "has {order} shipped yet",
        "the estimated delivery keeps getting pushed back",
        "where do i print the return label for the {product}",
        "the parcel is stuck at the [depot|sorting centre|warehouse]",
        "my package was delivered to a neighbour i don't know",
        "which courier are you using for {order}",
        "can you send the {product} to my office instead of home",
        "the package came without the [charger|manual|cable]",
        "my parcel was marked returned to sender",
        "i got someone else's [parcel|package] with their name on it",
        "the replacement {product} still hasn't been dispatched",
        "can you combine my two orders into one shipment",
        "i haven't got a shipping confirmation for {order}",
    ),
    "cancellation": (
        "i want to cancel my [subscription|membership]",
        "please cancel {order} before it ships",
        "how do i close my account [for good|permanently]",
        "cancel my {plan} at the end of this [billing period|month]",
        "i'd like to [stop|turn off] the auto-renewal",
        "please delete my account and all my data",
        "i signed up by mistake, please cancel it",
        "i'm switching to another [service|provider] so please cancel",
        "can i cancel without paying the early termination fee",
        "i cancelled last month but i'm still subscribed",
        "downgrading isn't enough, i want to quit entirely",
        "how do i end my free trial before it [charges|bills] me",
        "i don't use the {product} anymore, please end my membership",
        "i want to unsubscribe from the monthly [delivery|box]",
        "where is the cancel button, i can't find it anywhere",
        "please cancel all my pending orders",
        "can i pause my subscription instead of cancelling",
        "terminate my contract [effective immediately|as of today]",
        "i want out of the {plan}",
        "please confirm that my [account|subscription] is cancelled",
        "i'm moving abroad and need to cancel the service",
        "cancel the order i placed by accident [an hour ago|this morning]",
        "please don't renew my {plan} next [year|month]",
        "i want to cancel the [warranty|protection plan] i added to {order}",
        "stop my recurring order of the {product}",
        "i no longer need the extra seats, cancel them",
        "i'd like to cancel my pre-order for the {product}",
        "close my account, i'm done with this",
        "what's the notice period for cancelling",
        "please end my contract and stop all future payments",
        "i tried to cancel in the {app} but it just loops to an offer page",
        "can i cancel just one item from {order}",
        "i'm cancelling, don't try to talk me out of it",
    ),
    "feedback": (
        "i love the new design of the {app}",
        "your support agent {name} was [incredibly|really] helpful",
        "it would be great if you added a dark mode",
        "the new update made everything harder to find",
        "just wanted to say the {product} is [fantastic|brilliant|great]",
        "please bring back the old layout",
        "delivery was faster than expected, great job",
        "the onboarding was confusing, maybe add a [tutorial|walkthrough]",
        "i'd happily pay more for an offline mode",
        "the price is fair for what you get",
        "your website is hard to navigate on a phone",
        "suggestion: let us export reports as [csv|excel files]",
        "i've recommended you to all my friends",
        "the packaging uses way too much plastic",
        "the {product} quality went down compared to last year",
        "it would be nice to have more colour options for the {product}",
        "support took {n} days to reply, not great",
        "keep up the good work",
        "the new pricing page is much clearer",
        "the {app} is the best one i've tried for this",
        "feature request: [keyboard shortcuts|a widget|a search bar]",
        "honestly disappointed with the last release",
        "five stars, would buy again",
        "the instructions in the box could be clearer",
        "i wish the {product} came with a longer cable",
        "the font is really small for older users",
        "i really like how quiet the {product} is",
        "your newsletters are a bit too frequent",
        "the chat bot is useless, i'd rather talk to a person",
        "the {product} exceeded my expectations",
        "i think a family sharing option would be popular",
        "not a complaint, just a suggestion about the {app}",
        "overall happy, just a few rough edges in the {app}",
    ),
}

ASKS: dict[str, tuple[str, ...]] = {
    "billing": (
        "can you refund the difference?",
        "please fix the charge.",
        "who do i talk to about the bill?",
        "i want my money back.",
        "please send a corrected invoice.",
        "can you explain this charge?",
        "please check my payment history.",
        "how much will i pay next month?",
    ),
    "technical_issue": (
        "is this a known bug?",
        "how do i fix this?",
        "i already tried reinstalling.",
        "i restarted it twice already.",
        "is there a workaround?",
        "is a fix coming?",
        "please escalate to your engineers.",
        "tried clearing the cache too.",
    ),
    "account_access": (
        "please help me get back in.",
        "how do i recover it?",
        "can you verify me another way?",
        "i need access today.",
        "i can't get in and have a deadline.",
        "what do i need to prove it's me?",
        "please reset it from your side.",
        "it's been days without access.",
    ),
    "shipping": (
        "when will it arrive?",
        "can you send a replacement?",
        "please check with the courier.",
        "i need it for a birthday.",
        "can you look into it?",
        "where is it now?",
        "can you give me a delivery date?",
        "should i wait or reorder?",
    ),
    "cancellation": (
        "please confirm by email.",
        "do i get a prorated refund?",
        "and please don't charge me again.",
        "no, i don't want a discount to stay.",
        "effective immediately.",
        "how long does it take to process?",
        "please just do it for me.",
        "i want it gone today.",
    ),
    "feedback": (
        "just thought you should know.",
        "no reply needed.",
        "thanks for listening.",
        "hope this helps.",
        "keep it up.",
        "just my two cents.",
        "pass it on to the team.",
        "hope you consider it.",
    ),
}

# ---------------------------------------------------------------------------
# Fully hand-written sentences (some contain deliberate typos).
# ---------------------------------------------------------------------------

HAND: dict[str, tuple[str, ...]] = {
    "billing": (
        "Hi, I just looked at my bank statement and there are two identical charges of $29.99 from you on the same day. Could you refund one of them?",
        "why am i paying 15 dollars more this month??",
        "Invoice please.",
        "Can I get a receipt for tax purposes? My accountant needs it by Friday.",
        "The discount from the spring sale wasn't applied and I paid full price.",
        "I changed banks, how do I update my payment details before the next charge goes through?",
        "charged twice. fix it.",
        "You took £60 out of my account without asking, I never agreed to the price increase.",
        "Is it possible to get billed quarterly instead of every month?",
        "My company needs invoices addressed to our finance department, not to me personally. Can that be changed?",
        "Hello, the refund for the returned headphones was supposed to be back on my card in 5 days. It's been three weeks.",
        "what is this $4.99 'service fee' on my receipt",
        "I got an email saying my payment failed but the money already left my account.",
        "Do you offer any kind of nonprofit pricing?",
        "my card expired, where do i put the new one",
        "Why was I charged the annual price when I picked monthly at signup?",
        "The checkout said 39 euro but my card was charged 47 after conversion, what happened?",
        "Please stop charging my old card, it belongs to my ex-husband. Use the new Visa instead.",
        "I'd like a breakdown of the charges on invoice INV-20931.",
        "billing question: are prices shown with or without sales tax?",
        "I was told I'd get a credit on my account for the outage last month but I don't see it anywhere.",
        "Can i pay by bank transfer? our company doesn't use credit cards",
        "Overcharged AGAIN. This is the second month in a row.",
        "hi there, i think i paid for the family plan but i'm only using the single plan, can you check and refund the diff",
        "The gift card balance wasn't deducted from the total, I paid the whole amount with my card instead.",
        "Where do I see how much I owe for the next cycle?",
        "got a chargeback notice from my bank, what do I need to do on your end?",
        "Your pricing page says $8/month but my invoice says $10. Which is it?",
        "refund status?",
        "Could you resend the receipt for my March payment? I accidentaly deleted the email.",
        "i was charged a restocking fee that nobody mentioned when i bought it",
        "Hello! Quick one: does the annual plan get billed all at once or split into payments?",
        "The auto-pay took the money twice because your site timed out during payment.",
        "Can I get an itemised invoice with our VAT ID on it please",
        "My payment has been pending for 4 days, is it going through or not?",
        "you billed me for shipping even though the order was over the free shipping limit",
        "I was charged for an extra user seat that I removed weeks ago.",
        "Is there a fee for paying late? My paycheck comes on the 3rd.",
        "I need to dispute a charge from 12 Feb, amount 112.50",
        "The coupon WELCOME10 says invalid at checkout but it was in your own email.",
        "hey can you tell me what card is on file, just the last 4 digits",
        "I was supposed to get the loyalty price, not the regular one. Please adjust my bill.",
        "Money taken, no invoice sent. Please send one.",
        "charged for premium after i downgraded to basic, please refund the difference",
        "wrong amount on my bill",
    ),
    "technical_issue": (
        "The app crashes every single time I try to upload a photo. iPhone 13, latest iOS.",
        "wifi keeps dropping on the SmartHub, have to unplug it every morning",
        "Error 0x80070005 when installing the desktop client on windows 11",
        "Nothing loads. Just a white screen.",
        "Hi, since yesterday's update my saved drafts are gone and the editor won't open old files. Is there a way to recover them?",
        "broken again, nothing works",
        "The sync is so slow it takes 20 minutes to show changes on my laptop that I made on my phone.",
        "My AeroBuds only play sound in the left ear, I've reset them twice.",
        "Clicking 'Export' gives me a file that's 0 KB.",
        "The website doesn't work in Firefox, the buttons do nothing.",
        "i think theres a bug, the calendar shows all my events one hour off since the clocks changed",
        "App keeps asking for camera permission even after I allowed it.",
        "Your API has been timing out since 9am UTC, is there an outage?",
        "The thermostat reads 30 degrees when the room is clearly around 20.",
        "Hello, the voice assistant doesn't understand any commands anymore after the firmware update. It used to work fine.",
        "game freezes on level 4 every time",
        "I can't attach files bigger than 2MB even though the limit is supposed to be 25MB.",
        "The barcode scanner in the app doesnt focus, everything is blurry.",
        "Getting 'Network error, please try again' constantly even though my internet is fine.",
        "The Pulse watch stopped counting steps.",
        "the charts on the dashboard are all empty since this morning, our data is definitely there",
        "Printer integration broken after update 5.2",
        "My laptop fan goes crazy whenever your desktop app is open, it uses 90% CPU.",
        "The Lumen lamp turns itself on at 3am for no reason.",
        "Notifications arrive hours late or not at all.",
        "When I paste text into the editor, all the formatting gets messed up.",
        "the android app won't install, says 'not compatible with your device' on a pixel 8",
        "Is the server down? Nothing is syncing.",
        "Video calls drop after exactly 10 minutes every time.",
        "Search is broken. It finds nothing.",
        "The TrailCam stopped recording at night, the infrared doesn't seem to switch on.",
        "I followed the troubleshooting guide step by step and the device still won't pair.",
        "The screen goes black when I rotate my tablet.",
        "The CSV import fails with 'unexpected column' but my file matches your template exactly.",
        "Touch controls on the headphones stopped responding altogether.",
        "the blender makes a burning smell and stops after 10 seconds",
        "App says 'update required' but there is no update in the store.",
        "Pages in the help center give a 404.",
        "My smart plug shows offline in the app but it's clearly on.",
        "keyboard shortcuts stopped working in the web editor",
        "The map doesn't load in the driver app, just grey squares.",
        "Every time I hit save I get kicked back to the home screen and lose my work.",
        "Playback stutters on every video, tried 3 different networks.",
        "the router reboots randomly a few times a day",
        "Widget on my home screen hasn't refreshed in days.",
    ),
    "account_access": (
        "I can't log in.",
        "Forgot password, and the reset email isn't coming through. Checked spam too.",
        "Hi, my account got locked after I typed my password wrong a few times. How long until I can try again?",
        "Someone logged into my account from a device I don't own. Please secure it.",
        "I changed my phone number and now I can't receive the 2FA codes.",
        "login not working",
        "The 'Sign in with Apple' button just spins and never logs me in.",
        "My old email address doesn't exist anymore, how do I prove the account is mine?",
        "It keeps saying 'invalid username or password' but I'm copying it from my password manager.",
        "Can you reset my password for me? I've tried the form three times.",
        "I was kicked out of my team workspace and can't get back in.",
        "hi i think my account was hacked, the email and password were both changed",
        "How do I turn off two-factor authentication? I lost the phone that had the authenticator.",
        "The verification link in the signup email says it has expired.",
        "Our admin left the company and nobody else has access to the admin account.",
        "i cant access my account since yesterday, it says account disabled",
        "Can I change my username? The one I picked years ago is embarrassing.",
        "The login page reloads every time I press enter, I never get to my dashboard.",
        "Please unlock my account, username jordan_k88.",
        "I have my recovery codes but the site doesn't accept them.",
        "I'm trying to log in on a new laptop and it says the device is not recognised, but no code is sent.",
        "Locked out. Again.",
        "My daughter set up the account with her email and now I can't get into it.",
        "How do I give my colleague access to our shared account?",
        "Every time I log in I get logged out again after a few seconds.",
        "I got an email saying my password was changed. I didn't change it!",
        "Security question answers aren't working, I'm sure they're correct.",
        "Can't sign in on the mobile app but the website works fine.",
        "I need to change the email on my account to my work address.",
        "SSO with Okta gives a 'user not assigned' error for half our team.",
        "Hello, I never got the one time password text message.",
        "is there a way to log in without the authenticator app? traveling and my phone died",
        "Your system says my email is already registered but I never made an account.",
        "Deactivated my account by accident, how do I get it back?",
        "Please help, I can't get into my account and my whole shop runs on it.",
        "Password reset link takes me to a blank page.",
        "The magic link login expired before I could click it. Happens every time.",
        "Which email did I sign up with? I have three and none of them work.",
        "Captcha won't let me through to the login.",
        "My account shows someone else's name and profile when I log in.",
        "Need admin rights back on my account, I was downgraded to viewer by mistake.",
        "account locked, pls unlock asap",
        "the pin for my account isn't working on the kiosk",
        "Got locked out after changing my pasword on another device.",
        "How do I log out of all devices? I think my ex still has access.",
    ),
    "shipping": (
        "Where is my package?",
        "Order #58213 has said 'out for delivery' for three days now.",
        "The tracking shows delivered but there's nothing on my doorstep or with the neighbours.",
        "Hi, can I change the shipping address on my order? I'm moving next week.",
        "My lamp arrived with the glass shade smashed into pieces.",
        "do you deliver to Iceland?",
        "I ordered a blue one and got a red one.",
        "How long does standard shipping usually take to Canada?",
        "still waiting on my order from two weeks ago",
        "The courier left my parcel in the rain and the box is soaked.",
        "Only 2 of the 3 items in my order came. Is the rest coming separately?",
        "Can I upgrade to next-day delivery? I need it for Saturday.",
        "tracking number doesn't work on the carrier's site",
        "Package is stuck in customs, what do I do?",
        "Hello, my order still says 'processing' after 8 days, has it even shipped?",
        "The delivery driver said no one was home but I was home all day.",
        "Can I pick up my order from the store instead of having it delivered?",
        "The parcel went to my old address, even though I updated it before ordering.",
        "What courier do you use for deliveries to the Netherlands?",
        "My order was marked as returned to sender. Why??",
        "the box arrived but it was empty",
        "Can you hold the package at the depot? I'm away until the 20th.",
        "How do I send back the wrong size? Do you provide a return label?",
        "expected delivery date keeps changing every day",
        "Shipment hasn't moved from the warehouse in 5 days according to tracking.",
        "Is it possible to ship to a PO box?",
        "The package was delivered to a locker but I never got the code.",
        "My order arrived two weeks late and the chocolates had melted.",
        "can you ship both orders together to save on postage",
        "Hi! Just checking whether order 10442 has been dispatched yet.",
        "The delivery was signed for by someone I don't know.",
        "Do you ship internationally or only within the US?",
        "Received someone else's order, with their name on the label.",
        "The replacement you sent out never showed up either.",
        "Parcel damaged, screen cracked straight out of the box.",
        "Can I choose a delivery time slot?",
        "When will the back-ordered SmartHub ship?",
        "The courier wants me to pay duties on delivery, is that normal?",
        "late delivery again",
        "I need to add a gate code to my delivery instructions.",
        "Missing item from my order: the charging cable.",
        "my parcel says delivered to 'front porch' but i live in an apartment",
        "Why was my order sent by regular post when I paid for express?",
        "Has anything shipped? I got the confirmation email but no tracking.",
        "the package arived crushed and the kettle inside is dented",
    ),
    "cancellation": (
        "Cancel my subscription please.",
        "I'd like to cancel my order #77120, I found it cheaper elsewhere.",
        "How do I stop my membership from renewing next month?",
        "Please close my account and delete all my personal data.",
        "i want to unsubscribe from the premium plan",
        "Hi, I signed up for the free trial but I don't want to continue. Please make sure I'm not charged.",
        "I've been trying to cancel for a week and your website just loops me back to the offers page.",
        "cancel pls",
        "Can I cancel an order that's already been shipped?",
        "We're closing our business, so please end our contract at the end of the month.",
        "I cancelled in January and you still charged me in February. Is my cancellation even registered?",
        "Please don't renew my annual plan.",
        "What's the notice period for ending my contract?",
        "I don't want the meal boxes anymore, please stop all future deliveries.",
        "How do I delete my account? I can't find the option anywhere in settings.",
        "Please cancel the extra seat subscription, we don't need it.",
        "i ordered the wrong thing by accident, can u cancel it before it ships",
        "Terminate my service effective today.",
        "Is there a fee if I cancel my contract early?",
        "Can you confirm my cancellation went through? I didn't get an email.",
        "Stop my subscription. I'm not interested in a discount to stay.",
        "Hi there, my mother passed away and I need to cancel her account.",
        "I want to switch off auto-renew on all my plans.",
        "Please cancel everything, I'm done with this service.",
        "Can I pause my plan for 3 months instead of cancelling it?",
        "Not using it anymore, please end my membership.",
        "I'd like to cancel my pre-order for the Nimbus Pro.",
        "how to cancel",
        "I moved to another provider, please close my account here.",
        "Cancel the recurring order of coffee beans, I have way too much.",
        "Please remove me from the monthly plan and stop the charges.",
        "If I cancel now, do I keep access until the end of the period?",
        "Please cancel order 30017 and 30018, both placed by mistake.",
        "I want to opt out of the subscription I was signed up for without knowing.",
        "End my trial now please.",
        "The cancel button in the app gives an error, can you cancel it on your side?",
        "Want to cancel the warranty add-on I bought with my laptop.",
        "Please discontinue my newspaper delivery from next Monday.",
        "can I cancel just one item from my order and keep the rest?",
        "I'm leaving. Close the account.",
        "I signed up twice by mistake, please cancel the second subscription.",
        "Hello, I would like to end the family plan completely, not downgrade it.",
        "cancel my booking for next week",
        "Is it possible to withdraw from the contract within the 14 day cooling off period?",
        "please make sure i'm not billed again, i'm cancelling",
    ),
    "feedback": (
        "Just wanted to say your support team is amazing, Priya sorted everything out in five minutes.",
        "The new app design is gorgeous.",
        "Please add a dark mode, my eyes are burning at night.",
        "Honestly the last update made the app worse. Everything takes more taps now.",
        "love it",
        "Would be great if I could export my data to Excel.",
        "The delivery was super quick, really impressed!",
        "Your prices are a bit high compared to competitors, but the quality makes up for it.",
        "The instructions that came with the blender were confusing, more pictures would help.",
        "Suggestion: let users reorder items in the sidebar.",
        "I've used a lot of similar apps and this is by far the best.",
        "The new logo is ugly, sorry.",
        "Thank you for fixing the sync issue so fast, works perfectly now.",
        "The website is really hard to use on a phone.",
        "Your packaging is beautiful but it's a lot of cardboard for a small item.",
        "great service",
        "Hey, small idea: a widget for the home screen would be really handy.",
        "I'm disappointed with how long it took to get a reply from support.",
        "Five stars. Would recommend to anyone.",
        "The Nimbus Pro is the best purchase I've made all year.",
        "Could you make the font a bit bigger? It's hard to read for older folks.",
        "The onboarding tutorial was really helpful, nice touch.",
        "meh, it's ok. expected more for the price.",
        "It would be nice if the AeroBuds came in more colours.",
        "Not a complaint, just an observation: the checkout has too many steps.",
        "Your chat bot is useless, I'd rather talk to a person.",
        "Bring back the old icons please!",
        "Really happy with the Lumen lamp, the light is so warm and cozy.",
        "The new pricing is more transparent, thank you for that.",
        "I think a family sharing option would make a lot of people sign up.",
        "Keep up the great work, team!",
        "Quality has gone downhill lately, the last two kettles felt cheaper.",
        "I appreciate that you answered on a Sunday.",
        "Your emails are too frequent, once a week would be enough.",
        "The recipe section of the app is my favourite feature.",
        "feature request: allow multiple accounts on one device",
        "The survey you sent was way too long.",
        "just here to say thank you",
        "Would love an offline mode for when I'm on the train.",
        "Good product, average support, slow delivery. 3/5.",
        "The redesign looks clean but the settings are harder to find now.",
        "Loved the handwritten note in my package, made my day.",
        "I'd sugest adding a search bar to the help center.",
        "Your competitor lets you customize the dashboard, you should too.",
        "Overall a solid experience, a few rough edges but I'm happy.",
    ),
}

# ---------------------------------------------------------------------------
# Generation helpers.
# ---------------------------------------------------------------------------

_ALT_RE = re.compile(r"\[([^\[\]]+)\]")
_SLOT_RE = re.compile(r"\{(\w+)\}")
_WORD_RE = re.compile(r"[a-z0-9']+")


def expand(template: str, rng: random.Random) -> str:
    """Resolve ``[a|b]`` alternations and ``{slot}`` placeholders."""
    text = _ALT_RE.sub(lambda m: rng.choice(m.group(1).split("|")), template)
    return _SLOT_RE.sub(lambda m: SLOTS[m.group(1)](rng), text)


def add_typo(text: str, rng: random.Random) -> str:
    """Introduce one realistic typo into a random word of 4+ letters."""
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not idx:
        return text
    i = rng.choice(idx)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif kind == "drop":
        w = w[:j] + w[j + 1 :]
    else:
        w = w[:j] + w[j] + w[j:]
    words[i] = w
    return " ".join(words)


QUESTION_WORDS = frozenset(
    {"how", "why", "where", "can", "do", "is", "has", "when", "what", "which", "will"}
)


def finish(core: str, rng: random.Random, last: bool) -> str:
    """Give the main request its final punctuation.

    A missing full stop is only allowed when nothing follows, or now and then
    as a realistic run-on sentence.
    """
    if core.endswith((".", "?", "!")):
        return core
    if core.split(" ", 1)[0] in QUESTION_WORDS:
        ends: tuple[str, ...] = ("?", "?", "?", "??", "")
    else:
        ends = (".", ".", ".", "!", "")
    end = rng.choice(ends)
    if not end and not last and rng.random() < 0.7:
        end = "."
    return core + end


def style(text: str, rng: random.Random) -> str:
    """Apply a random register: lower case, sentence case, or shouting."""
    r = rng.random()
    if r < 0.45:
        text = text.lower()
    elif r < 0.97:
        text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
        text = re.sub(r"\bi\b", "I", text)
        text = re.sub(r"\bi'", "I'", text)
    else:
        text = text.upper()
        if not text.endswith("!"):
            text = text.rstrip(".") + "!!"
    return text


def compose(label: str, core: str, rng: random.Random) -> str:
    """Build one generated sentence around an intent core."""
    opener = expand(rng.choice(OPENERS), rng)
    context = expand(rng.choice(CONTEXTS), rng) if rng.random() < 0.5 else ""
    ask = rng.choice(ASKS[label]) if rng.random() < 0.4 else ""
    closer = expand(rng.choice(CLOSERS), rng)
    body = finish(expand(core, rng), rng, last=not (context or ask or closer))
    parts = [p for p in (opener, context, body, ask, closer) if p]
    if rng.random() < 0.5 and context:
        # Put the context after the main request for some variety.
        parts = [p for p in (opener, body, context, ask, closer) if p]
    text = " ".join(parts)
    if rng.random() < TYPO_RATE:
        text = add_typo(text, rng)
    return style(text, rng)


def normalise(text: str) -> str:
    """Key used for duplicate detection across and within splits."""
    return " ".join(_WORD_RE.findall(text.lower()))


def tokens(text: str) -> frozenset[str]:
    """Content-ish word set used for near-duplicate rejection."""
    return frozenset(_WORD_RE.findall(text.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two word sets."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class Pool:
    """Collects sentences for one intent, rejecting duplicates and near-duplicates."""

    def __init__(self, seen: set[str]) -> None:
        self.seen = seen
        self.token_sets: list[frozenset[str]] = []

    def try_add(self, text: str) -> bool:
        key = normalise(text)
        if not key or key in self.seen:
            return False
        toks = tokens(text)
        if any(jaccard(toks, other) >= MAX_JACCARD for other in self.token_sets):
            return False
        self.seen.add(key)
        self.token_sets.append(toks)
        return True


def generate(label: str, cores: list[str], count: int, pool: Pool, rng: random.Random) -> list[str]:
    """Generate ``count`` distinct sentences, spreading uses over ``cores``."""
    out: list[str] = []
    uses = dict.fromkeys(cores, 0)
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > 200_000:
            raise RuntimeError(f"could not generate enough sentences for {label}")
        least = min(uses.values())
        candidates = [c for c in cores if uses[c] <= least + 1 and uses[c] < MAX_USES_PER_CORE]
        if not candidates:
            raise RuntimeError(f"ran out of core capacity for {label}")
        core = rng.choice(candidates)
        text = compose(label, core, rng)
        if pool.try_add(text):
            uses[core] += 1
            out.append(text)
    return out


def build() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Build the train and test splits."""
    rng = random.Random(SEED)
    seen: set[str] = set()
    train: list[dict[str, str]] = []
    test: list[dict[str, str]] = []
    for label in LABELS:
        pool = Pool(seen)
        hand = list(HAND[label])
        for text in hand:
            if not pool.try_add(text):
                raise ValueError(f"duplicate hand-written sentence: {text!r}")
        rng.shuffle(hand)
        hand_test = hand[:HAND_TEST_PER_LABEL]
        hand_train = hand[HAND_TEST_PER_LABEL:]

        cores = list(CORES[label])
        rng.shuffle(cores)
        heldout_cores = cores[:HELDOUT_CORES_PER_LABEL]
        shared_cores = cores[HELDOUT_CORES_PER_LABEL:]

        heldout = generate(label, heldout_cores, HELDOUT_CORE_SENTENCES, pool, rng)
        n_test_random = TEST_PER_LABEL - len(hand_test) - len(heldout)
        n_train_gen = TRAIN_PER_LABEL - len(hand_train)
        generated = generate(label, shared_cores, n_train_gen + n_test_random, pool, rng)
        rng.shuffle(generated)
        # The random share of generated sentences that goes to test is ~20%.
        gen_test = generated[:n_test_random]
        gen_train = generated[n_test_random:]

        train += [{"text": t, "label": label} for t in hand_train + gen_train]
        test += [{"text": t, "label": label} for t in hand_test + heldout + gen_test]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    """Write rows as UTF-8 JSON lines."""
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    """Build the corpus and write both splits."""
    train, test = build()
    train_keys = {normalise(r["text"]) for r in train}
    overlap = [r["text"] for r in test if normalise(r["text"]) in train_keys]
    if overlap:
        raise AssertionError(f"test texts found in train: {overlap[:3]}")
    write_jsonl(TRAIN_PATH, train)
    write_jsonl(TEST_PATH, test)
    for name, rows in (("train", train), ("test", test)):
        counts = {lab: sum(r["label"] == lab for r in rows) for lab in LABELS}
        print(f"{name}: {len(rows)} examples {counts}")


if __name__ == "__main__":
    main()
