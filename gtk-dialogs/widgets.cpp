#include "widgets.h"

#include <cstdlib>

#include "status.h"

namespace sdgimp::dialogs {

GtkWidget* form_grid() {
    GtkWidget* grid = gtk_grid_new();
    gtk_grid_set_row_spacing(GTK_GRID(grid), 4);
    gtk_grid_set_column_spacing(GTK_GRID(grid), 8);
    return grid;
}

GtkWidget* spin(double lo, double hi, double step, int digits) {
    GtkWidget* s = gtk_spin_button_new_with_range(lo, hi, step);
    gtk_spin_button_set_digits(GTK_SPIN_BUTTON(s), static_cast<guint>(digits));
    gtk_widget_set_hexpand(s, TRUE);
    return s;
}

GtkWidget* combo(const std::vector<std::string>& items) {
    GtkWidget* c = gtk_combo_box_text_new();
    for (const auto& i : items) gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(c), i.c_str(), i.c_str());
    gtk_widget_set_hexpand(c, TRUE);
    return c;
}

GtkWidget* text_view(int lines) {
    GtkWidget* v = gtk_text_view_new();
    gtk_text_view_set_wrap_mode(GTK_TEXT_VIEW(v), GTK_WRAP_WORD_CHAR);
    gtk_text_view_set_accepts_tab(GTK_TEXT_VIEW(v), FALSE);
    GtkWidget* sw = gtk_scrolled_window_new(nullptr, nullptr);
    gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(sw), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
    gtk_scrolled_window_set_min_content_height(GTK_SCROLLED_WINDOW(sw), lines * 20);
    gtk_scrolled_window_set_shadow_type(GTK_SCROLLED_WINDOW(sw), GTK_SHADOW_IN);
    gtk_container_add(GTK_CONTAINER(sw), v);
    return v;
}

std::string buffer_text(GtkWidget* view) {
    GtkTextBuffer* b = gtk_text_view_get_buffer(GTK_TEXT_VIEW(view));
    GtkTextIter s, e;
    gtk_text_buffer_get_bounds(b, &s, &e);
    gchar* t = gtk_text_buffer_get_text(b, &s, &e, FALSE);
    std::string out = t;
    g_free(t);
    return out;
}

void set_buffer_text(GtkWidget* view, const std::string& t) {
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(view)), t.c_str(), -1);
}

GtkWidget* combo_with_entry(const std::vector<std::string>& items) {
    GtkWidget* c = gtk_combo_box_text_new_with_entry();
    for (const auto& i : items) gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(c), i.c_str(), i.c_str());
    gtk_widget_set_hexpand(c, TRUE);
    return c;
}

void set_combo(GtkWidget* c, const std::string& id) {
    if (gtk_combo_box_get_has_entry(GTK_COMBO_BOX(c))) {
        gtk_entry_set_text(GTK_ENTRY(gtk_bin_get_child(GTK_BIN(c))), id.c_str());
        return;
    }
    if (!gtk_combo_box_set_active_id(GTK_COMBO_BOX(c), id.c_str())) {
        // A value we do not list (e.g. a model file from pasted settings) is added, not dropped.
        if (GTK_IS_COMBO_BOX_TEXT(c) && !id.empty()) {
            gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(c), id.c_str(), id.c_str());
            gtk_combo_box_set_active_id(GTK_COMBO_BOX(c), id.c_str());
        }
    }
}

std::string combo_id(GtkWidget* c) {
    if (gtk_combo_box_get_has_entry(GTK_COMBO_BOX(c))) {
        const gchar* t = gtk_entry_get_text(GTK_ENTRY(gtk_bin_get_child(GTK_BIN(c))));
        return t ? t : "";
    }
    const gchar* id = gtk_combo_box_get_active_id(GTK_COMBO_BOX(c));
    return id ? id : "";
}

double num(GtkWidget* s) { return gtk_spin_button_get_value(GTK_SPIN_BUTTON(s)); }
void set_num(GtkWidget* s, double v) { gtk_spin_button_set_value(GTK_SPIN_BUTTON(s), v); }

int64_t parse_seed(GtkWidget* e, const char* what) {
    const std::string t = gtk_entry_get_text(GTK_ENTRY(e));
    char* end = nullptr;
    const long long v = std::strtoll(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || v < -1)
        throw Error(ErrorCode::kInvalidRequest, std::string(what) + " must be -1 (random) or a whole number, not \"" + t + "\".");
    return v;
}

void label_row(GtkGrid* g, int row, int col, const char* label, GtkWidget* w) {
    GtkWidget* l = gtk_label_new(label);
    gtk_widget_set_halign(l, GTK_ALIGN_START);
    gtk_grid_attach(g, l, col, row, 1, 1);
    gtk_grid_attach(g, w, col + 1, row, 1, 1);
}

}  // namespace sdgimp::dialogs
