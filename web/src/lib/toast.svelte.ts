export type ToastTone = "success" | "error" | "info";
export interface Toast {
  id: number;
  tone: ToastTone;
  message: string;
}

let next = 1;
export const toasts = $state<Toast[]>([]);

/** Shows a short message in the corner; errors stay longer. */
export function toast(message: string, tone: ToastTone = "success") {
  const id = next++;
  toasts.push({ id, tone, message });
  setTimeout(() => dismiss(id), tone === "error" ? 8000 : 4000);
}

export function dismiss(id: number) {
  const i = toasts.findIndex((t) => t.id === id);
  if (i >= 0) toasts.splice(i, 1);
}
