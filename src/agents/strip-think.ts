/**
 * Inline reasoning in the content: models such as DeepSeek-R1, QwQ and Qwen3 served raw put
 * `<think>...</think>` before the answer. That text is never the answer (a JSON array inside it was
 * once taken as the sub-questions). Pure.
 */

/** The content without `<think>` blocks (an unclosed one runs to the end), and the reasoning removed. */
export function stripThink(text: string): { content: string; reasoning: string } {
  if (!/<\/?think(?:ing)?>/i.test(text)) return { content: text, reasoning: '' };
  const reasoning: string[] = [];
  let content = text.replace(/<think(?:ing)?>([\s\S]*?)<\/think(?:ing)?>/gi, (_m, inner: string) => {
    reasoning.push(inner.trim());
    return '';
  });
  // A reply cut off inside its reasoning: everything after the opening tag is reasoning.
  const open = content.search(/<think(?:ing)?>/i);
  if (open !== -1) {
    reasoning.push(
      content
        .slice(open)
        .replace(/<think(?:ing)?>/i, '')
        .trim(),
    );
    content = content.slice(0, open);
  }
  // Some templates emit only the closing tag (the opening one is part of the prompt).
  const close = content.search(/<\/think(?:ing)?>/i);
  if (close !== -1) {
    reasoning.push(content.slice(0, close).trim());
    content = content.slice(close).replace(/<\/think(?:ing)?>/i, '');
  }
  return { content: content.trim(), reasoning: reasoning.filter((r) => r !== '').join('\n\n') };
}
