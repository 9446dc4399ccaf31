"""Why a page or feed cannot be added. Messages are plain sentences for the admin (CLI or
Discord), naming the URL's problem and, where there is one, what to do."""


class WebError(ValueError):
    """A page or feed cannot be added; nothing was saved."""


class FetchError(WebError):
    """The URL could not be fetched as asked (refused address, HTTP error, wrong type, too big...)."""


class ExtractError(WebError):
    """The page was fetched but holds no article text we can use."""


class FeedError(WebError):
    """The document is not an RSS or Atom feed we can read."""
