"""The article of a page — without its boilerplate — with title, publisher and date from the page's
metadata; and one canonical URL and file name per story."""

from __future__ import annotations

import pytest

from index.web.errors import ExtractError
from index.web.extract import extract_article, iso_date, one_line, publisher
from index.web.urls import article_path, canonical_url, same_site, story_url
from tests.helpers.web_fixture import WEB_DATA

BASE = "http://127.0.0.1:8080"
TALKS_URL = f"{BASE}/world/2025/05/16/istanbul-sailor-exchange"
# What the test pages carry besides the article: none of it may reach the article text.
BOILERPLATE = [
    "We use cookies",  # cookie banners
    "Accept all",
    "Subscribe from €1 a week",  # navigation
    "Search the Ledger",
    "Sign up for our free daily newsletter",  # newsletter boxes
    "The Meridian Briefing lands in your inbox",
    "Subscribe to the Northline weekly digest",
    "My cousin works on a bulk carrier",  # readers' comments
    "Geneva again?",
    "Black Sea insurers raise war-risk premiums again",  # related links
    "How the grid got through the winter",
    "All rights reserved",  # footers
    "Share this article",
]


def page(name: str) -> str:
    return (WEB_DATA / name).read_text("utf-8").replace("{{BASE}}", BASE)


def test_the_article_text_without_boilerplate_and_its_metadata():
    article = extract_article(page("istanbul-talks.html"), TALKS_URL + "?utm_source=x")
    assert article.title == "Envoys agree on a sailor exchange at Istanbul talks"
    assert article.source == "The Harbour Ledger"  # og:site_name
    assert article.published == "2025-05-16"  # article:published_time, not the modified time
    assert article.url == TALKS_URL  # <link rel=canonical>
    assert article.body.startswith(
        "Negotiators from Russia and Ukraine agreed in Istanbul"
    )  # headline dropped
    assert "exchange 412 detained merchant sailors in three stages" in article.body
    assert article.body.rstrip().endswith("staff vessels calling at Odesa.")
    for text in BOILERPLATE:
        assert text not in article.body, text


def test_json_ld_publisher_and_date_and_comments_left_out():
    article = extract_article(page("black-sea-grain.html"), f"{BASE}/europe/grain-corridor-geneva")
    assert (article.title, article.source, article.published) == (
        "Grain corridor talks move to Geneva",
        "Meridian Post",
        "2025-06-03",
    )
    assert "joint inspection centre" in article.body
    assert all(text not in article.body for text in BOILERPLATE)


def test_no_date_on_the_page_means_no_date_and_no_site_name_means_the_host():
    article = extract_article(page("energy-pause.html"), f"{BASE}/latest/energy-pause-monitors")
    assert article.published is None  # never guessed (e.g. from a related link's URL)
    assert article.source == "127.0.0.1"
    assert "hotline between the two energy ministries" in article.body
    assert all(text not in article.body for text in BOILERPLATE)


def test_the_amp_page_is_the_same_article():
    regular = extract_article(page("istanbul-talks.html"), TALKS_URL)
    amp = extract_article(
        page("istanbul-talks.amp.html"), f"{BASE}/amp/world/2025/05/16/istanbul-sailor-exchange"
    )
    assert amp == regular


def test_a_page_without_an_article_is_refused():
    with pytest.raises(ExtractError, match=r"no article text found on the page: only \d+ words"):
        extract_article(page("cookie-wall.html"), f"{BASE}/subscribe/wall")
    with pytest.raises(ExtractError, match="no article text found on the page"):
        extract_article("<html><body></body></html>", f"{BASE}/empty")


def test_the_minimum_length_is_a_setting():
    article = extract_article(page("energy-pause.html"), f"{BASE}/x", min_words=10)
    words = len(article.body.split())
    with pytest.raises(ExtractError, match=f"only {words} words"):
        extract_article(page("energy-pause.html"), f"{BASE}/x", min_words=words + 1)


def test_a_canonical_link_to_another_site_is_ignored():
    html = page("istanbul-talks.html").replace(
        f"{BASE}/world/2025/05/16/istanbul-sailor-exchange", "https://other.example/x"
    )
    article = extract_article(html, TALKS_URL + "?fbclid=abc")
    assert article.url == TALKS_URL


def test_header_values_are_single_lines():
    assert one_line("Talks\r\nend\u2028here\u00ad\x00!") == "Talks end here !"
    assert publisher("www.example.com", "https://www.example.com/a") == "example.com"
    assert publisher(None, "https://news.example:8443/a") == "news.example"
    assert publisher("Kyiv\nDaily", "https://k.example/") == "Kyiv Daily"
    assert iso_date("2025-05-16T09:30:00+00:00") == "2025-05-16"
    assert iso_date("2025-02-30") is None and iso_date("May 2025") is None and iso_date(None) is None


# ---------------------------------------------------------------- one story, one name


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example/world/talks?utm_source=tw&utm_medium=social&utm_campaign=x",
        "https://news.example/world/talks?fbclid=IwAR0abc",
        "https://news.example/world/talks?gclid=abc&mc_cid=1&mc_eid=2",
        "https://NEWS.example:443/world/talks#comments",
        "https://news.example/amp/world/talks",
        "https://news.example/world/talks/amp",
        "https://news.example/world/talks.amp",
        "https://news.example/world/talks?amp=1",
        "https://news.example/world/talks?outputType=amp",
    ],
)
def test_tracking_parameters_fragments_and_amp_markers_are_dropped(url):
    assert canonical_url(url) == "https://news.example/world/talks"


def test_meaningful_query_parameters_stay_and_are_sorted():
    assert canonical_url("https://news.example/article.php?page=2&id=5&utm_source=x") == (
        "https://news.example/article.php?id=5&page=2"
    )


def test_article_paths_are_stable_unique_and_safe():
    path = article_path("https://news.example/world/2025/05/16/istanbul-talks")
    assert path.startswith("web/news.example/istanbul-talks-") and path.endswith(".txt")
    assert article_path("http://news.example/world/2025/05/16/istanbul-talks/") == path  # same story
    assert article_path("https://news.example/europe/istanbul-talks") != path
    assert article_path("http://127.0.0.1:8080/a/b").startswith("web/127.0.0.1_8080/b-")
    assert article_path("https://bücher.example/новости/2025/").startswith(
        "web/xn--bcher-kva.example/article-"
    )
    assert article_path("https://news.example/story.php?id=7").startswith("web/news.example/story-")
    assert ".." not in article_path("https://news.example/%2e%2e/%2e%2e/etc/passwd")


def test_same_site_and_the_story_url():
    assert same_site("https://amp.example.co.uk/a", "https://www.example.co.uk/b")
    assert not same_site("https://evil.co.uk/a", "https://www.example.co.uk/b")
    assert not same_site("http://127.0.0.2/a", "http://127.0.0.1/b")
    assert (
        story_url("https://news.example/a?utm_source=x", "https://www.news.example/b")
        == "https://www.news.example/b"
    )
    assert (
        story_url("https://news.example/a?utm_source=x", "https://evil.example/b") == "https://news.example/a"
    )
    assert story_url("https://news.example/a", "javascript:alert(1)") == "https://news.example/a"
