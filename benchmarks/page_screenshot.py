"""The README's screenshot of the web page, made with a real browser.

  python benchmarks/page_screenshot.py            # writes docs/page.jpg

Serves the bundled model (`python -m colorjax.serve` on a free port of
127.0.0.1), opens the page in Debian's chromium through playwright, uploads
scikit-image's `chelsea` photo (public domain) and saves the page once the
colorized photo has arrived (the whole page, as JPEG).
"""

import os
import sys
import tempfile

from PIL import Image
import skimage.data

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # pylint: disable=wrong-import-position

CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update']


def main(out: str = 'docs/page.jpg') -> None:
  from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top
  server, url = common.start_server([])
  try:
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
      photo = os.path.join(tmp, 'chelsea.jpg')
      Image.fromarray(skimage.data.chelsea()).save(photo, quality=92)
      browser = p.chromium.launch(executable_path='/usr/bin/chromium', args=CHROMIUM_ARGS)
      page = browser.new_page(viewport={'width': 1000, 'height': 620})
      page.goto(url + '/')
      page.set_input_files('#file', photo)
      page.wait_for_function("document.getElementById('colorized').naturalWidth > 0",
                             timeout=120_000)
      page.screenshot(path=out, full_page=True, type='jpeg', quality=80)
      browser.close()
  finally:
    server.terminate()
    server.wait(timeout=60)
  print(f'wrote {out}')


if __name__ == '__main__':
  main(*sys.argv[1:])
